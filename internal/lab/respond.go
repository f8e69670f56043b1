package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// With Options.Respond the lab runs seed 000's experiment with the
// resolver enforcing (issue: the resolver acts): when host 3 turns red,
// its agent's effector restarts its web server and the attacker's address
// is blocked at the gateway, since it completed handshakes; a second
// phase floods host 1 with SYNs from forged sources and scans it with a
// decoy naming the lab's admin address, and nothing but the attacker's
// real address is blocked. The tracks run M3 with recovery (m3r), so the
// restart, an observation like any other, moves host 3 out of red.

// RespondResult is the acting run's outcome.
type RespondResult struct {
	// RedAt is when host 3's track first turned red (zero: never).
	RedAt time.Time `json:"red_at"`
	// BlockAfter and RestartAfter are the seconds from that red report to
	// the block at the gateway and the restart being done (their
	// RESPONSE.ACTION events: the set's element added, the effector's
	// answer); nil: not done.
	BlockAfter   *float64 `json:"red_to_block_s"`
	RestartAfter *float64 `json:"red_to_restart_s"`
	// LeftRedAfter is the seconds from the first action to the first
	// report of host 3's track below red (nil: it stayed red).
	LeftRedAfter *float64 `json:"left_red_after_action_s"`
	// AttackerReachesHost3 and Host1ReachesHost3 say, after the flood,
	// whether a request to host 3 from the attacker (through the gateway)
	// and from host 1 (on the DMZ) was answered.
	AttackerReachesHost3 bool `json:"attacker_reaches_host3"`
	Host1ReachesHost3    bool `json:"host1_reaches_host3"`
	// Phase2Start and Phase2End bound the forged flood and the decoy scan.
	Phase2Start time.Time `json:"phase2_start"`
	Phase2End   time.Time `json:"phase2_end"`
	// Admin is the lab's admin address the decoy scan named.
	Admin string `json:"admin"`
	// Blocked is what the gateway's nftables sets hold at the end.
	Blocked []string `json:"blocked"`
	// Decisions are the resolver's decisions, oldest first.
	Decisions []Decision `json:"decisions"`
}

// Decision is one of the resolver's decisions as the lab shows it.
type Decision struct {
	Time    time.Time `json:"time"`
	Policy  string    `json:"policy"`
	Method  string    `json:"method"`
	Subject string    `json:"subject"`
	Status  string    `json:"status"`
	Reason  string    `json:"reason"`
}

// The respond lab's models and addresses.
const (
	respondModel = "m3r"
	attackerIP   = "10.20.0.1"
)

// webClientRules make the verified evidence the block needs: many
// answered HTTP requests from one client to one server. An answered
// request shows the client completed the handshake, so its address is its
// own (src_verified). Green: it is not an alert, and the tracks do not
// take it (they read the gateway signatures only).
const webClientRules = `rules:
  - id: heavy-web-client
    title: Heavy web client
    description: One client's HTTP requests to one server, answered, at a high rate.
    severity: green
    tags: [web]
    match: {type: NET.HTTP, where: {status|exists: true}}
    threshold: {group_by: [src, dst], count: 100, window: 10s}
    subject: dst
    suppress: 5s
    report: "{count} answered HTTP requests from {src} to {dst} within {window}"
`

// respondConfig is the gateway monitor's resource object for the acting
// run: the experiment's (monitorConfig) with m3r in place of m3, the web
// clients' rule, and the policies in enforce mode.
func respondConfig(rulesFile string) string {
	conf := strings.NewReplacer(
		`models: ["builtin:m3.yaml", "builtin:m4.yaml"]`, `models: ["builtin:m3r.yaml", "builtin:m4.yaml"]`,
		`models: [m3, m4]`, `models: [m3r, m4]`,
		"  - kind: track\n", "  - kind: signature\n    name: web-clients\n    rules: [\""+rulesFile+"\"]\n  - kind: track\n",
		"resolver: {publish: true, min_severity: green}\n", "",
	).Replace(monitorConfig)
	return conf + `responses:
  # The gateway's forward hook: the DMZ's traffic passes it.
  - {kind: nftables, name: gateway-block, input: false, forward: true}
  # The server's agent restarts its web server (its effector's command).
  - {kind: process, name: restart-web, action: restart, timeout: 60s}
  - {kind: log, name: note, level: warn}
resolver:
  publish: true
  min_severity: green
  mode: enforce
  policies:
    # Seed 000 section 5: the attacker of a server believed compromised
    # is cut off at the gateway; its address is taken from the web
    # clients' reports about the same server, which show it completed
    # handshakes.
    - name: block-attacker
      where: {engine: web-clients, src_verified: true}
      with:
        - where: {engine: tracks, model: m3r, severity: red}
      within: 2m
      by: ip
      subject: addr:src
      methods: [gateway-block]
      duration: 10m
      priority: 10
    # ... and its web server is restarted by its agent.
    - name: heal-web
      where: {engine: tracks, model: m3r, severity: red}
      subject: host
      unit: apache2
      methods: [restart-web]
      cooldown: 5m
    # Scanners would be blocked too, but a scan completes no handshake:
    # its sources may be forged (nmap -D), and are never blocked.
    - name: block-scanners
      where: {engine: gateway-signatures, tags: scan}
      subject: addr:src
      methods: [gateway-block]
      duration: 10m
      cooldown: 1m
    # A flood is answered by naming its target.
    - name: flood-target
      where: {engine: gateway-signatures, tags: flood}
      subject: ip
      methods: [note]
      cooldown: 1m
`
}

// agentConfig writes host i's agent resource object: its effector on,
// restarting its web server with Apache's own restart.
func agentConfig(dir string) (string, error) {
	apache, err := lookPath("apache2")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "agent.yaml")
	conf := fmt.Sprintf(`agent:
  effector:
    enabled: true
    restart:
      apache2: {argv: [%q, "-f", %q, "-k", "restart"], timeout: 30s}
`, apache, filepath.Join(dir, "apache2.conf"))
	return path, os.WriteFile(path, []byte(conf), 0o644)
}

// afterFlood runs what the acting lab does once the flood is over: it
// checks who still reaches host 3, watches host 3 leave red, then runs
// the second phase.
func (l *lab) afterFlood(ctx context.Context, res *Result, step func(string, ...any)) error {
	rr := &RespondResult{Admin: l.adminIP()}
	res.Respond = rr
	rr.AttackerReachesHost3 = l.reaches("atk", "http://10.10.0.3:8000/")
	rr.Host1ReachesHost3 = l.reaches("h1", "http://10.10.0.3:8000/")
	step("after the flood: the attacker reaches host 3: %v; host 1 reaches host 3: %v", rr.AttackerReachesHost3, rr.Host1ReachesHost3)
	watch := 60 * time.Second
	if l.o.Fast {
		watch = 20 * time.Second
	}
	step("watching host 3's track for %v", watch)
	if err := sleep(ctx, watch); err != nil {
		return err
	}
	rr.Phase2Start = time.Now().UTC()
	step("phase 2: hping3 --rand-source SYN flood of host 1 (2000 SYNs), then nmap -sS -D %s,ME of host 1", rr.Admin)
	if err := l.in("atk", "hping3", "-q", "-S", "-p", "8000", "--rand-source", "-c", "2000", "-i", "u2000", "10.10.0.1"); err != nil {
		// hping3 exits non-zero when nothing answered, as nothing
		// answers forged sources.
		step("hping3: %v", firstLine(err.Error()))
	}
	if err := l.in("atk", "nmap", "-sS", "-T4", "-n", "-Pn", "-p", "1-200", "-D", rr.Admin+",ME", "10.10.0.1"); err != nil {
		return err
	}
	rr.Phase2End = time.Now().UTC()
	// Unanswered attempts are decided after the sensor's attempt timeout
	// (5 s) and summed at the end of its 10 s interval.
	wait := 25 * time.Second
	step("phase 2 done; waiting %v for the sensor's summaries and the decisions", wait)
	return sleep(ctx, wait)
}

// adminIP is the lab's admin address: this namespace's end of the
// management link, whence the dashboard is watched.
func (l *lab) adminIP() string {
	return strings.TrimSuffix(l.mgmtIP, ".2") + ".1"
}

// reaches tells whether a request from a namespace to url is answered
// within 3 s.
func (l *lab) reaches(ns, url string) bool {
	ipPath, err := lookPath("ip")
	if err != nil {
		return false
	}
	out, err := exec.Command(ipPath, "netns", "exec", l.ns(ns), "ab", "-n", "1", "-s", "3", url).CombinedOutput()
	return err == nil && !strings.Contains(string(out), "Non-2xx responses") && strings.Contains(string(out), "Complete requests:      1")
}

// collectRespond reads the decisions and the gateway's sets, and
// measures host 3's times.
func (l *lab) collectRespond(ctx context.Context, res *Result, reps []event.Report) error {
	rr := res.Respond
	var rows []struct {
		Time    time.Time       `json:"time"`
		Policy  string          `json:"policy"`
		Method  string          `json:"method"`
		Subject json.RawMessage `json:"subject"`
		Status  string          `json:"status"`
		Reason  string          `json:"reason"`
	}
	if err := getJSON(ctx, l.dashboard()+"/api/responses?limit=10000", &rows); err != nil {
		return err
	}
	for _, r := range rows {
		rr.Decisions = append(rr.Decisions, Decision{Time: r.Time, Policy: r.Policy, Method: r.Method, Subject: subjectText(r.Subject), Status: r.Status, Reason: r.Reason})
	}
	sort.SliceStable(rr.Decisions, func(i, j int) bool { return rr.Decisions[i].Time.Before(rr.Decisions[j].Time) })
	blocked, err := l.blocked()
	if err != nil {
		return err
	}
	rr.Blocked = blocked
	// Host 3's first red, and the actions after it.
	const host3 = "10.10.0.3"
	for _, r := range reps {
		if r.IP == host3 && r.Severity >= event.SeverityRed && r.State != "Verdict" {
			rr.RedAt = r.Time
			break
		}
	}
	if rr.RedAt.IsZero() {
		return nil
	}
	// An action is done when its method returned (for the restart, when
	// the effector answered): its RESPONSE.ACTION event.
	var evs []event.Event
	if err := getJSON(ctx, l.dashboard()+"/api/events?type=RESPONSE.ACTION&limit=1000", &evs); err != nil {
		return err
	}
	slices.Reverse(evs)
	var first time.Time
	for _, ev := range evs {
		if ev.Attrs["status"] != "done" || ev.Time.Before(rr.RedAt) {
			continue
		}
		var at **float64
		switch p, _ := ev.Attrs["policy"].(string); p {
		case "block-attacker":
			at = &rr.BlockAfter
		case "heal-web":
			at = &rr.RestartAfter
		default:
			continue
		}
		if *at == nil {
			s := ev.Time.Sub(rr.RedAt).Seconds()
			*at = &s
		}
		if first.IsZero() || ev.Time.Before(first) {
			first = ev.Time
		}
	}
	if first.IsZero() {
		return nil
	}
	for _, r := range reps {
		if r.IP == host3 && r.State != "Verdict" && r.Time.After(first) && r.Severity < event.SeverityRed {
			s := r.Time.Sub(first).Seconds()
			rr.LeftRedAfter = &s
			break
		}
	}
	return nil
}

// subjectText names a decision's subject in a few words.
func subjectText(raw json.RawMessage) string {
	var s struct {
		Host   string `json:"host"`
		Addr   string `json:"addr"`
		Prefix string `json:"prefix"`
		Unit   string `json:"unit"`
	}
	if json.Unmarshal(raw, &s) != nil {
		return string(raw)
	}
	var parts []string
	for _, p := range []string{s.Addr, s.Prefix} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	if s.Unit != "" {
		parts = append(parts, "unit "+s.Unit)
	}
	if s.Host != "" {
		parts = append(parts, "host "+s.Host)
	}
	return strings.Join(parts, " on ")
}

// blocked lists the addresses in the gateway's block sets, read from
// the kernel with nft.
func (l *lab) blocked() ([]string, error) {
	var out []string
	for _, set := range []string{"block4", "block6"} {
		ipPath, err := lookPath("ip")
		if err != nil {
			return nil, err
		}
		b, err := exec.Command(ipPath, "netns", "exec", l.ns("gw"), "nft", "list", "set", "inet", "vigil", set).CombinedOutput()
		if err != nil {
			if strings.Contains(string(b), "No such file") {
				continue // no table: nothing was ever blocked
			}
			return nil, fmt.Errorf("nft list set %s: %w: %s", set, err, strings.TrimSpace(string(b)))
		}
		_, elems, ok := strings.Cut(string(b), "elements = {")
		if !ok {
			continue
		}
		elems, _, _ = strings.Cut(elems, "}")
		for _, f := range strings.Split(elems, ",") {
			f = strings.TrimSpace(f)
			addr, _, _ := strings.Cut(f, " ")
			if _, err := netip.ParseAddr(addr); err == nil {
				out = append(out, addr)
			} else if _, err := netip.ParsePrefix(addr); err == nil {
				out = append(out, addr)
			}
		}
	}
	return out, nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
