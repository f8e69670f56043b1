package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/testutil"
	"github.com/vigil-ids/vigil/internal/testutil/bustest"
	"github.com/vigil-ids/vigil/internal/testutil/vigilproc"
)

// These tests run the vigil binary as a user would.

var vigilBin string

func TestMain(m *testing.M) { vigilproc.Main(m, &vigilBin) }

type proc = vigilproc.Proc

func start(t *testing.T, args ...string) *proc {
	t.Helper()
	return vigilproc.Start(t, vigilBin, args...)
}

func startCmd(t *testing.T, cmd *exec.Cmd) *proc { t.Helper(); return vigilproc.StartCmd(t, cmd) }

func run(t *testing.T, stdin string, args ...string) (string, int) {
	t.Helper()
	return vigilproc.Run(t, vigilBin, stdin, args...)
}

func waitHTTP(t *testing.T, url string, within time.Duration) time.Duration {
	t.Helper()
	return vigilproc.WaitHTTP(t, url, within)
}

func getEvents(t *testing.T, url string) []event.Event {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw []json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	out := make([]event.Event, len(raw))
	for i, r := range raw {
		ev, err := event.DecodeJSON(r)
		if err != nil {
			t.Fatalf("API returned an undecodable event %s: %v", r, err)
		}
		out[i] = ev
	}
	return out
}

// TestUp is the acceptance path of `vigil up`: health within 3 s, events
// from POST /api/events and from `vigil ingest events` come back from
// /api/events?host=, and SIGTERM stops it within 5 s with everything
// stored.
func TestUp(t *testing.T) {
	httpPort, busPort := testutil.FreePort(t), testutil.FreePort(t)
	data := t.TempDir()
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	up := start(t, "up", "--listen", fmt.Sprintf("127.0.0.1:%d", httpPort), "--bus-listen", fmt.Sprintf("127.0.0.1:%d", busPort), "--data", data,
		"--agent-interval", "300ms", "--agent-window", "2", "--agent-host-id", "this-machine")
	if took := waitHTTP(t, base+"/healthz", 3*time.Second); took > 3*time.Second {
		t.Errorf("healthz after %v", took)
	}

	body := `{"type":"PROC.SPAWN","host":"web-3","ip":"10.0.0.3","attrs":{"name":"sh","parent_name":"httpd","pid":4242}}
not json
{"id":"fixed-1","time":"2026-11-22T10:00:00Z","type":"SYS.MEM","host":"web-3","attrs":{"mem_pct":91.5}}
`
	resp, err := http.Post(base+"/api/events", "application/x-ndjson", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var ans struct {
		Accepted, Rejected int
		Errors             []struct {
			Line  int
			Error string
		}
	}
	_ = json.NewDecoder(resp.Body).Decode(&ans)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || ans.Accepted != 2 || ans.Rejected != 1 || len(ans.Errors) != 1 || ans.Errors[0].Line != 2 {
		t.Fatalf("POST answered %d %+v", resp.StatusCode, ans)
	}

	out, code := run(t, `{"type":"SYS.CPU","host":"db-1","attrs":{"cpu_pct":97.0}}
{"type":"SYS.CPU"}
{"type":"SYS.CPU","host":"db-1","attrs":{"cpu_pct":12.0}}
`, "ingest", "events", "--bus", fmt.Sprintf("nats://127.0.0.1:%d", busPort), "--bus-identity", filepath.Join(data, "bus", "sensor.json"), "-")
	if code != 1 || !strings.Contains(out, "stdin:2:") || !strings.Contains(out, "published 2 events, 1 bad lines") {
		t.Errorf("ingest exit %d, output:\n%s", code, out)
	}

	// A firewall's log: the discarded and the passed traffic streams.
	out, code = run(t, `Nov 22 11:00:00 gw-fw kernel: [  512.1] DROP IN=eth0 OUT= SRC=203.0.113.5 DST=10.0.0.3 LEN=60 TTL=52 ID=1 DF PROTO=TCP SPT=40000 DPT=23 WINDOW=1024 RES=0x00 SYN URGP=0
Nov 22 11:00:01 gw-fw sshd[4411]: Accepted publickey for ops from 192.0.2.1 port 5022 ssh2
Nov 22 11:00:02 gw-fw kernel: [  514.1] ACCEPT-SSH IN=eth0 OUT= SRC=192.0.2.1 DST=10.0.0.3 LEN=60 TTL=64 ID=9 DF PROTO=TCP SPT=5022 DPT=22 WINDOW=64240 RES=0x00 SYN URGP=0
`, "ingest", "firewall", "--bus", fmt.Sprintf("nats://127.0.0.1:%d", busPort), "--bus-identity", filepath.Join(data, "bus", "sensor.json"), "-")
	if code != 0 || !strings.Contains(out, "published 2 events, 0 bad lines") {
		t.Errorf("ingest firewall exit %d, output:\n%s", code, out)
	}

	var web3, db1, drops, passes []event.Event
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		web3 = getEvents(t, base+"/api/events?host=web-3")
		db1 = getEvents(t, base+"/api/events?host=db-1&type=SYS.CPU")
		drops = getEvents(t, base+"/api/events?host=gw-fw&type=NET.FW.DROP")
		passes = getEvents(t, base+"/api/events?host=gw-fw&type=NET.FW.PASS")
		if len(web3) == 2 && len(db1) == 2 && len(drops) == 1 && len(passes) == 1 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(web3) != 2 || len(db1) != 2 {
		t.Fatalf("API returned %d events for web-3 and %d for db-1", len(web3), len(db1))
	}
	if len(drops) != 1 || drops[0].Str("dport") != "23" || len(passes) != 1 || passes[0].Str("dport") != "22" {
		t.Errorf("firewall events: drops %+v, passes %+v", drops, passes)
	}
	if web3[0].ID != "fixed-1" && web3[1].ID != "fixed-1" {
		t.Errorf("the given id was not kept: %+v", web3)
	}
	// The shipped host pack runs by default: a shell under a web server
	// is reported, with the event as evidence.
	var reps []struct {
		Model, Severity, Explanation string
		Evidence                     []string
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(base + "/api/reports?host=web-3&model=web-server-spawns-shell")
		if err != nil {
			t.Fatal(err)
		}
		reps = nil
		_ = json.NewDecoder(resp.Body).Decode(&reps)
		resp.Body.Close()
		if len(reps) > 0 {
			break
		}
	}
	if len(reps) != 1 || reps[0].Severity != "red" || !strings.Contains(reps[0].Explanation, "httpd") || len(reps[0].Evidence) != 1 {
		t.Errorf("reports of the default signature engine: %+v", reps)
	}
	// The built-in policies run in monitor mode: the red host is a
	// decision, logged, stored and listed, and nothing is executed.
	var decisions []struct{ ID, Status, Mode, Key, Reason string }
	found := -1
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && found < 0; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(base + "/api/responses?policy=red-host")
		if err != nil {
			t.Fatal(err)
		}
		decisions = nil
		_ = json.NewDecoder(resp.Body).Decode(&decisions)
		resp.Body.Close()
		for i, d := range decisions {
			if d.Key == "log|host=web-3" {
				found = i
			}
		}
	}
	if found < 0 || decisions[found].Status != "planned" || decisions[found].Mode != "monitor" {
		t.Errorf("decisions of the built-in red-host policy: %+v", decisions)
	}
	if resp, err := http.Get(base + "/api/responses?status=done,failed"); err == nil {
		var done []any
		_ = json.NewDecoder(resp.Body).Decode(&done)
		resp.Body.Close()
		if len(done) != 0 {
			t.Errorf("monitor mode executed %d actions", len(done))
		}
	}
	if out, code := run(t, "", "respond", "list", "--url", base); code != 0 || !strings.Contains(out, "planned") || !strings.Contains(out, "red-host") {
		t.Errorf("respond list: exit %d\n%s", code, out)
	}
	if found >= 0 {
		if out, code := run(t, "", "respond", "undo", "--url", base, decisions[found].ID); code == 0 || !strings.Contains(out, "it is planned, nothing was done") {
			t.Errorf("respond undo of a planned decision: exit %d\n%s", code, out)
		}
	}
	// An operator's own request is carried out in monitor mode too; a
	// method that cannot undo cannot unblock.
	if out, code := run(t, "", "respond", "block", "192.0.2.9", "--method", "log", "--reason", "test", "--url", base); code != 0 || !strings.Contains(out, "done") {
		t.Errorf("respond block: exit %d\n%s", code, out)
	}
	if out, code := run(t, "", "respond", "block", "192.0.2.9", "--method", "nope", "--url", base); code == 0 || !strings.Contains(out, `no response method "nope"`) {
		t.Errorf("respond block with an unknown method: exit %d\n%s", code, out)
	}
	if out, code := run(t, "", "respond", "unblock", "192.0.2.9", "--method", "log", "--url", base); code == 0 || !strings.Contains(out, "cannot undo") {
		t.Errorf("respond unblock by a method that cannot undo: exit %d\n%s", code, out)
	}
	for _, q := range []string{"?hots=web-3", "?since=yesterday", "?limit=-1"} {
		resp, err := http.Get(base + "/api/events" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("/api/events%s answered %d", q, resp.StatusCode)
		}
	}

	// The local host sensor reports this machine: a process started now is
	// seen spawning.
	sleeper := exec.Command("sleep", "30")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() }()
	deadline = time.Now().Add(15 * time.Second)
	var spawned bool
	for !spawned && time.Now().Before(deadline) {
		for _, ev := range getEvents(t, base+"/api/events?host=this-machine&type=PROC.SPAWN&limit=1000") {
			if pid, _ := ev.Int("pid"); int(pid) == sleeper.Process.Pid && ev.Str("name") == "sleep" && ev.Source == "agent" {
				spawned = true
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !spawned {
		t.Error("the local host sensor's PROC.SPAWN of a new process never reached /api/events")
	}

	took, err := up.Stop(t, 5*time.Second)
	if err != nil {
		t.Errorf("vigil up exited with %v", err)
	}
	t.Logf("stopped %v after SIGTERM", took)
	if n := countRows(t, filepath.Join(data, "vigil.db"), "host IN ('web-3','db-1')"); n != 4 {
		t.Errorf("store holds %d events of the submitted hosts after shutdown, want 4", n)
	}
}

func countRows(t *testing.T, path string, where ...string) int {
	t.Helper()
	return vigilproc.CountRows(t, path, where...)
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yml")
	good := filepath.Join(dir, "good.yml")
	os.WriteFile(bad, []byte("monitor:\n  name: x\n  layer: galaxy\nsources:\n  - name: s\n    subjects: [\"a..b\"]\nstore:\n  retention: forever\nbogus: 1\n"), 0o644)
	os.WriteFile(good, []byte("monitor: {name: ok}\n"), 0o644)
	out, code := run(t, "", "check", good, bad)
	if code != 2 {
		t.Errorf("exit %d, want 2:\n%s", code, out)
	}
	for _, want := range []string{good + ": ok", bad + ":3:3: monitor.layer", bad + ":6:16: sources[0].subjects[0]", bad + ":8:14: store.retention", bad + ":9:1: bogus: unknown key \"bogus\""} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if out, code := run(t, "", "check", good); code != 0 {
		t.Errorf("valid file: exit %d\n%s", code, out)
	}
}

// TestCheckHierarchy: vigil check given several monitors' resource
// objects (a directory of them) checks the hierarchy they declare
// together, naming every mistake at its file and key.
func TestCheckHierarchy(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ent := write("ent.yml", "monitor:\n  name: ent\n  layer: enterprise\n  children: [dom1, dom2]\n")
	dom1 := write("dom1.yml", "monitor:\n  name: dom1\n  layer: domain\n  parent: ent\n  peers: [dom2]\nsubscriptions:\n  - monitor: web1\n")
	dom2 := write("dom2.yml", "monitor:\n  name: dom2\n  layer: domain\n  parent: ent\n  peers: [dom1]\n")
	web1 := write("web1.yml", "monitor:\n  name: web1\n  parent: dom1\n")
	out, code := run(t, "", "check", dir)
	if code != 0 || !strings.Contains(out, "hierarchy of 4 monitors: ok") || strings.Contains(out, "warning") {
		t.Fatalf("a consistent hierarchy: exit %d\n%s", code, out)
	}
	for _, f := range []string{ent, dom1, dom2, web1} {
		if !strings.Contains(out, f+": ok") {
			t.Errorf("output lacks %s: ok\n%s", f, out)
		}
	}

	// Break it: a second web1 under dom2, dom2 forgets its peer, dom1
	// and a new domain monitor name each other as parents, a service
	// monitor is given a service parent.
	write("web1b.yml", "monitor:\n  name: web1\n  parent: dom2\n")
	write("dom2.yml", "monitor:\n  name: dom2\n  layer: domain\n  parent: ent\n")
	write("dom1.yml", "monitor:\n  name: dom1\n  layer: domain\n  parent: dom9\n  peers: [dom2]\nsubscriptions:\n  - monitor: web1\n")
	dom9 := write("dom9.yml", "monitor:\n  name: dom9\n  layer: domain\n  parent: dom1\n")
	svc := write("svc.yml", "monitor:\n  name: svc\n  parent: web1\n")
	out, code = run(t, "", "check", dir)
	if code != 2 {
		t.Errorf("exit %d, want 2:\n%s", code, out)
	}
	for _, want := range []string{
		filepath.Join(dir, "web1b.yml") + `:2:3: monitor.name: monitor "web1" is also ` + web1 + ":2; each monitor has its own name",
		ent + `:4:14: monitor.children[0]: "dom1" is claimed as a child by "ent", but names "dom9" as its parent (` + dom1 + ":4)",
		dom1 + ":4:3: monitor.parent: parent links loop: dom1 -> dom9 -> dom1",
		svc + `:3:3: monitor.parent: a service monitor's parent is at a higher layer: "web1" is a service monitor`,
		dom1 + `:5:11: monitor.peers[0]: warning: peer "dom2" does not name "dom1" among its peers`,
		dom9 + `:4:3: monitor.parent: warning: parent "dom1" neither lists "dom9"`,
		"the hierarchy of 7 monitors has 4 problems",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestCheckRules checks that vigil check tells rule files from resource
// objects, passes the shipped packs and names each mistake with its line.
func TestCheckRules(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad-rules.yaml")
	os.WriteFile(bad, []byte("- id: a\n  severity: purple\n  match: {type: NET.CONN, where: {dport|gt: eighty}}\n- id: a\n  mtach: {type: X}\n"), 0o644)
	packs, _ := filepath.Glob(filepath.Join("..", "..", "rules", "*.yaml"))
	if len(packs) < 2 {
		t.Fatalf("want the gateway and host packs in rules/, found %v", packs)
	}
	gateway := filepath.Join("..", "..", "configs", "gateway.yaml")
	def := filepath.Join("..", "..", "configs", "default.yaml") // the one embedded in the binary
	// The hierarchy's domain and enterprise monitors (docs/HIERARCHY.md).
	domain := filepath.Join("..", "..", "configs", "domain.yaml")
	enterprise := filepath.Join("..", "..", "configs", "enterprise.yaml")
	out, code := run(t, "", append([]string{"check", gateway, def, domain, enterprise, bad}, packs...)...)
	if code != 2 {
		t.Errorf("exit %d, want 2:\n%s", code, out)
	}
	for _, want := range []string{gateway + ": ok", def + ": ok", domain + ": ok", enterprise + ": ok", bad + ":2:13: [0].severity", bad + ":3:35: [0].match.where.dport|gt", bad + ":4:3: [1].id: rule \"a\" is already defined", bad + ":5:3: [1].mtach"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, p := range packs {
		if !strings.Contains(out, p+": ok (") {
			t.Errorf("shipped pack %s not reported valid:\n%s", p, out)
		}
	}

	// A fact about a whole host that does not say so is valid, with a
	// warning at its line; the host pack's facts say what they are about.
	hostFact := filepath.Join(dir, "host-fact.yaml")
	os.WriteFile(hostFact, []byte("- id: shell\n  silent: true\n  match: {type: PROC.SPAWN}\n  asserts: {fact: shell, key: [host]}\n"), 0o644)
	hostPack := filepath.Join("..", "..", "rules", "host.yaml")
	out, code = run(t, "", "check", hostFact, hostPack)
	if code != 0 {
		t.Errorf("exit %d for warnings alone, want 0:\n%s", code, out)
	}
	for _, want := range []string{hostFact + ": ok (1 rule)", hostFact + `:4:12: [0].asserts: warning: fact "shell" is keyed only by the host`, hostPack + ": ok ("} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "warning:"); n != 1 {
		t.Errorf("%d warnings, want the one of %s (the host pack has none):\n%s", n, hostFact, out)
	}

	// Process models: the shipped ones pass, a broken one is named line
	// by line.
	models, _ := filepath.Glob(filepath.Join("..", "..", "models", "*.yaml"))
	badModel := filepath.Join(dir, "bad-model.yaml")
	os.WriteFile(badModel, []byte("id: m\nstates:\n  A: {initial: 1}\n  B: {target: true}\n  C: {}\ntransitions:\n  A: {A: 0.5, B: 0.6}\n  B: [B]\n  C: [C]\nemissions:\n  x: {match: {type: NO.SUCH}, in: [A]}\n"), 0o644)
	unreachable := filepath.Join(dir, "unreachable-model.yaml")
	os.WriteFile(unreachable, []byte("id: u\nstates: {A: {initial: 1, target: true}, B: {}}\ntransitions: {A: [A], B: [B]}\nemissions: {x: {match: {type: SYS.CPU}, in: [A]}}\n"), 0o644)
	out, code = run(t, "", append([]string{"check", badModel, unreachable}, models...)...)
	if code != 2 || len(models) < 4 {
		t.Errorf("exit %d with %d models:\n%s", code, len(models), out)
	}
	for _, want := range []string{badModel + ":7:6: transitions.A: the probabilities of leaving \"A\" sum to 1.1, not 1", badModel + ":11:21: emissions.x.match.type: unknown event type \"NO.SUCH\"", unreachable + ":1:1: states.B: state \"B\" is unreachable"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, m := range models {
		if !strings.Contains(out, m+": ok (1 model)") {
			t.Errorf("shipped model %s not reported valid:\n%s", m, out)
		}
	}
}

func TestVerbsHaveHelp(t *testing.T) {
	for _, verb := range []string{"version", "respond", "respond list", "respond undo", "up", "agent", "monitor", "replay", "check", "ingest", "ingest events", "ingest firewall", "ingest suricata", "ingest snort", "netsensor", "bench", "bench netsensor", "bench bus", "bench hierarchy", "bench agent", "bench signature", "bench track", "lab", "lab dmz", "pki", "pki init", "pki issue", "pki revoke", "pki crl", "pki token", "pki serve-enroll", "enroll", "install", "users"} {
		out, code := run(t, "", append(strings.Fields(verb), "--help")...)
		if code != 0 || !strings.Contains(out, "Usage:") {
			t.Errorf("vigil %s --help: exit %d\n%s", verb, code, out)
		}
	}
	if out, code := run(t, "", "frobnicate"); code != 2 || !strings.Contains(out, "unknown command") {
		t.Errorf("unknown verb: exit %d\n%s", code, out)
	}
	if out, code := run(t, "", "version"); code != 0 || !strings.HasPrefix(out, "vigil ") {
		t.Errorf("version: %d %s", code, out)
	}
}

// TestMonitorSurvivesSIGKILL kills a monitor with SIGKILL while 100,000
// events flow through JetStream, restarts it, and finds exactly 100,000
// distinct events in its store.
func TestMonitorSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("long: 100,000 events and a restart")
	}
	const total = 100_000
	ctx := context.Background()
	srv := bustest.Start(t, bus.ServerOptions{})
	pub := bustest.Connect(t, srv, "test")
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "monitor.yml")
	os.WriteFile(cfgFile, []byte("monitor: {name: svc}\nsources: [{name: obs, subjects: [\"vigil.obs.>\"]}]\n"), 0o644)
	data := filepath.Join(dir, "data")
	httpPort := testutil.FreePort(t)
	health := fmt.Sprintf("http://127.0.0.1:%d/healthz", httpPort)
	monArgs := []string{"monitor", "--config", cfgFile, "--bus", srv.ClientURL(), "--data", data, "--listen", fmt.Sprintf("127.0.0.1:%d", httpPort)}

	// Publish in the background while the monitor runs and dies.
	pubDone := make(chan error, 1)
	go func() {
		ids := event.NewRandomIDs()
		t0 := time.Now().UTC()
		batch := make([]event.Event, 0, 1000)
		for i := 0; i < total; i++ {
			tm := t0.Add(time.Duration(i) * time.Microsecond)
			batch = append(batch, event.Event{ID: ids.NewID(tm), Time: tm, Type: event.TypeSysCPU, Host: fmt.Sprintf("h%d", i%50), Source: "test", Attrs: map[string]any{"seq": int64(i)}})
			if len(batch) == cap(batch) {
				if _, err := pub.PublishEvents(ctx, batch); err != nil {
					pubDone <- err
					return
				}
				batch = batch[:0]
				time.Sleep(2 * time.Millisecond) // a stream, not one burst
			}
		}
		pubDone <- nil
	}()

	first := start(t, monArgs...)
	waitHTTP(t, health, 10*time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for eventsIn(t, health) < 20_000 {
		if time.Now().After(deadline) {
			t.Fatal("the monitor did not take 20,000 events in 30 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := first.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-first.Done
	first.Done <- nil
	killedAt := countRows(t, filepath.Join(data, "vigil.db"))
	t.Logf("killed with %d events stored", killedAt)
	if killedAt >= total {
		t.Fatalf("all events were stored before the kill; the test proves nothing")
	}

	second := start(t, monArgs...)
	if err := <-pubDone; err != nil {
		t.Fatal(err)
	}
	waitHTTP(t, health, 10*time.Second)
	deadline = time.Now().Add(60 * time.Second)
	for {
		if n := countRows(t, filepath.Join(data, "vigil.db")); n >= total {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d events stored 60 s after the restart", countRows(t, filepath.Join(data, "vigil.db")))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := second.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-second.Done; err != nil {
		t.Errorf("monitor exit: %v", err)
	}
	second.Done <- nil
	if n := countRows(t, filepath.Join(data, "vigil.db")); n != total {
		t.Fatalf("store holds %d distinct events, want exactly %d", n, total)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "vigil.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var lo, hi, distinct int
	if err := db.QueryRow(`SELECT MIN(CAST(json_extract(attrs,'$.seq') AS INTEGER)), MAX(CAST(json_extract(attrs,'$.seq') AS INTEGER)), COUNT(DISTINCT json_extract(attrs,'$.seq')) FROM events`).Scan(&lo, &hi, &distinct); err != nil {
		t.Fatal(err)
	}
	if lo != 0 || hi != total-1 || distinct != total {
		t.Errorf("stored sequence numbers %d..%d, %d distinct", lo, hi, distinct)
	}
}

func eventsIn(t *testing.T, health string) int { return vigilproc.EventsIn(health) }

// TestAgentAcceptance runs `vigil agent --stdout --interval 500ms --window
// 3` while a shell loop burns CPU and spawns children, and looks for the
// loop's PROC.CPU, its children's PROC.SPAWN and SYS.PROCS.GROWTH, each
// with the attributes of seed 000's examples.
func TestAgentAcceptance(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc on this machine")
	}
	agent := start(t, "agent", "--stdout", "--interval", "500ms", "--window", "3", "--log-level", "warn")
	time.Sleep(1500 * time.Millisecond) // the agent's averages start
	loop := exec.Command("bash", "-c", `while :; do
  for i in $(seq 30); do sleep 4 & done
  end=$((SECONDS+2)); x=0; while [ $SECONDS -lt $end ]; do x=$((x+1)); done
done`)
	if err := loop.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = loop.Process.Kill(); _ = loop.Wait(); exec.Command("pkill", "-f", "^sleep 4$").Run() }()
	pid := int64(loop.Process.Pid)
	found := map[string]bool{}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && len(found) < 3 {
		time.Sleep(250 * time.Millisecond)
		for _, line := range strings.Split(agent.Out.String(), "\n") {
			ev, err := event.DecodeJSON([]byte(line))
			if err != nil {
				continue
			}
			p, _ := ev.Int("pid")
			pp, _ := ev.Int("ppid")
			hasProc := ev.Str("name") != "" && ev.Str("state") != "" && ev.Str("parent_name") != "" && ev.IP != "" && !ev.Time.IsZero()
			switch {
			case ev.Type == event.TypeProcCPU && p == pid && hasProc && ev.Attrs["threshold"] != nil && ev.Attrs["value"] != nil:
				found["PROC.CPU of the loop"] = true
			case ev.Type == event.TypeProcSpawn && pp == pid && ev.Str("name") == "sleep" && ev.Str("parent_name") == "bash" && hasProc:
				found["PROC.SPAWN of its children"] = true
			case ev.Type == event.TypeSysProcsGrowth && ev.Attrs["num_procs"] != nil && ev.Attrs["threshold"] != nil:
				found["SYS.PROCS.GROWTH"] = true
			}
		}
	}
	for _, want := range []string{"PROC.CPU of the loop", "PROC.SPAWN of its children", "SYS.PROCS.GROWTH"} {
		if !found[want] {
			t.Errorf("no %s in the agent's output", want)
		}
	}
}

// TestBenchAgent runs a short `vigil bench agent` (the peer is measured only
// where Debian's prometheus-node-exporter is installed).
func TestBenchAgent(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc on this machine")
	}
	out, code := run(t, "", "bench", "agent", "--duration", "1s", "--intervals", "500ms", "--procs", "20", "--json")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	var res struct {
		Measures []struct {
			Subject   string  `json:"subject"`
			Samples   int     `json:"samples"`
			PeakRSSMB float64 `json:"peak_rss_mb"`
			Processes int     `json:"processes"`
		}
		PeerMissing string `json:"peer_missing"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if len(res.Measures) == 0 || res.Measures[0].Samples < 1 || res.Measures[0].PeakRSSMB <= 0 || res.Measures[0].Processes < 20 {
		t.Fatalf("measures %+v", res.Measures)
	}
	if len(res.Measures) == 1 && res.PeerMissing == "" {
		t.Error("one measure but no reason for the missing peer")
	}
}
