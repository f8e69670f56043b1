// Package revprobe is the response method kind "reverse-probe" (seed 004
// section 7, reverse probing: gathering what can be learnt about the
// source of suspicious traffic): for a decision whose subject is an
// address, it connects back to that address over TCP on configured ports
// and reports which are open, closed or filtered, and, when asked, the
// first bytes an open port sends (its banner), as quoted text.
//
// Probing another party's machine is itself an act on the network, so
// the method does it only within bounds it keeps whatever a policy says:
// only addresses inside the configured allow ranges (none by default, so a
// method without them probes nothing), only the configured ports, each
// connection within a timeout, and at most a budget of probes per period,
// beside the decision unit's own rate budget. It only connects, reads what
// the peer sends first, and closes: nothing is ever written to the peer.
// The decision unit's safety rules (protected addresses, spoof awareness)
// apply before it is called, as for every method that acts on an address.
package revprobe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/resolver/action"
	"github.com/vigil-ids/vigil/internal/yamlnode"
)

// Kind is the kind resource objects name.
const Kind = "reverse-probe"

// Defaults and bounds of a reverse-probe.
const (
	DefaultTimeout     = time.Second
	DefaultBannerWait  = 500 * time.Millisecond
	DefaultBudgetCount = 20
	DefaultBudgetPer   = time.Hour
	// MaxPorts bounds the ports one probe connects to.
	MaxPorts = 64
	// MaxBannerBytes bounds the banner read from a port.
	MaxBannerBytes = 1024
	// MinPrefix4 and MinPrefix6 are the widest allow ranges: a range
	// wider than a /8 (IPv4) or a /16 (IPv6) would allow nearly anything.
	MinPrefix4 = 8
	MinPrefix6 = 16
	minTimeout = 10 * time.Millisecond
	maxTimeout = 10 * time.Second
	// parallel bounds the connections of one probe open at once.
	parallel = 8
)

// DefaultPorts are the ports probed when the settings name none.
var DefaultPorts = []int{22, 80, 443}

// Settings are a reverse-probe's section of a resource object.
type Settings struct {
	// Allow lists the ranges (or single addresses) that may be probed;
	// an address outside them is refused. Empty: every address is
	// refused (the default).
	Allow []string `yaml:"allow"`
	// Ports are the TCP ports connected to, in this order.
	Ports []int `yaml:"ports"`
	// Timeout bounds each connection attempt: a port that neither
	// accepts nor refuses within it is filtered.
	Timeout time.Duration `yaml:"timeout"`
	// BannerBytes, when above 0, is how many bytes an open port's first
	// message is read to (0: no banner is read).
	BannerBytes int `yaml:"banner_bytes"`
	// BannerWait bounds the wait for a banner once connected.
	BannerWait time.Duration `yaml:"banner_wait"`
	// Budget bounds the probes (one address, all its ports) in any Per.
	Budget config.Budget `yaml:"budget"`

	allow []netip.Prefix
}

func newSettings() config.Settings {
	return &Settings{Ports: append([]int(nil), DefaultPorts...), Timeout: DefaultTimeout, BannerWait: DefaultBannerWait,
		Budget: config.Budget{Count: DefaultBudgetCount, Per: DefaultBudgetPer}}
}

// Validate checks the ranges, the ports, the bounds and the budget, each
// mistake at its place.
func (s *Settings) Validate(p *config.Problems, path string) {
	s.allow = nil
	allow := config.Join(path, "allow")
	for i, a := range s.Allow {
		at := config.Index(allow, i)
		pf, ok := yamlnode.ParseCIDR(a)
		written, err := netip.ParsePrefix(a)
		switch {
		case !ok:
			p.Addf(at, "%q is not an address or a range (CIDR)", action.Clip(a, 80))
			continue
		case err == nil && written != written.Masked():
			p.Addf(at, "%s has host bits set: write %s", a, written.Masked())
			continue
		case pf.Addr().Is4() && pf.Bits() < MinPrefix4:
			p.Addf(at, "%s is wider than a /%d: name the ranges that may be probed", pf, MinPrefix4)
			continue
		case pf.Addr().Is6() && pf.Bits() < MinPrefix6:
			p.Addf(at, "%s is wider than a /%d: name the ranges that may be probed", pf, MinPrefix6)
			continue
		}
		s.allow = append(s.allow, pf)
	}
	ports := config.Join(path, "ports")
	if len(s.Ports) == 0 {
		p.Addf(ports, "missing: the TCP ports to connect to")
	}
	if len(s.Ports) > MaxPorts {
		p.Addf(ports, "%d ports: at most %d", len(s.Ports), MaxPorts)
	}
	seen := map[int]bool{}
	for i, port := range s.Ports {
		switch {
		case port < 1 || port > 65535:
			p.Addf(config.Index(ports, i), "%d is not a TCP port (1 to 65535)", port)
		case seen[port]:
			p.Addf(config.Index(ports, i), "port %d is listed twice", port)
		}
		seen[port] = true
	}
	if s.Timeout < minTimeout || s.Timeout > maxTimeout {
		p.Addf(config.Join(path, "timeout"), "must be between %v and %v", minTimeout, maxTimeout)
	}
	if s.BannerBytes < 0 || s.BannerBytes > MaxBannerBytes {
		p.Addf(config.Join(path, "banner_bytes"), "must be between 0 (no banner) and %d", MaxBannerBytes)
	}
	if s.BannerWait < minTimeout || s.BannerWait > maxTimeout {
		p.Addf(config.Join(path, "banner_wait"), "must be between %v and %v", minTimeout, maxTimeout)
	}
	budget := config.Join(path, "budget")
	if s.Budget.Count < 1 || s.Budget.Count > 1_000_000 {
		p.Addf(config.Join(budget, "count"), "must be between 1 and 1000000")
	}
	if s.Budget.Per < time.Second || s.Budget.Per > 7*24*time.Hour {
		p.Addf(config.Join(budget, "per"), "must be between 1s and 168h")
	}
}

// Register adds the kind "reverse-probe" to r.
func Register(r *action.Registry) error {
	return r.Register(action.Factory{
		Kind:        Kind,
		Needs:       []string{"addr"},
		NewSettings: newSettings,
		New: func(_ context.Context, cs config.Settings, deps action.Deps) (action.Method, error) {
			s, ok := cs.(*Settings)
			if !ok {
				return nil, fmt.Errorf("%s: settings of type %T", Kind, cs)
			}
			var p config.Problems
			s.Validate(&p, "")
			if p.Len() > 0 {
				return nil, fmt.Errorf("settings: %v", p.List())
			}
			return New(*s, deps), nil
		},
	})
}

// Prober probes addresses back.
type Prober struct {
	s     Settings
	clock clock.Clock
	dial  func(ctx context.Context, network, address string) (net.Conn, error)

	mu    sync.Mutex
	spent []time.Time // when the probes within the budget's window were made
}

var _ action.Method = (*Prober)(nil)

// New makes a prober from validated settings.
func New(s Settings, deps action.Deps) *Prober {
	clk := deps.Clock
	if clk == nil {
		clk = clock.Real{}
	}
	d := &net.Dialer{Timeout: s.Timeout}
	return &Prober{s: s, clock: clk, dial: d.DialContext}
}

// target is the address req asks to probe, or why it may not be.
func (pr *Prober) target(req action.Request) (netip.Addr, error) {
	a := req.Subject.Addr
	switch {
	case !a.IsValid() && req.Subject.Prefix.IsValid():
		return a, fmt.Errorf("%s: the subject is the range %s: only single addresses are probed", Kind, req.Subject.Prefix)
	case !a.IsValid():
		return a, fmt.Errorf("%s: the subject names no address", Kind)
	case a.Zone() != "":
		return a, fmt.Errorf("%s: %s has a zone: not probed", Kind, a)
	case a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return a, fmt.Errorf("%s: %s is not one host's address: not probed", Kind, a)
	}
	a = a.Unmap()
	if len(pr.s.allow) == 0 {
		return a, fmt.Errorf("%s: no allow ranges are configured, so no address is probed (%s not probed)", Kind, a)
	}
	for _, pf := range pr.s.allow {
		if pf.Contains(a) {
			return a, nil
		}
	}
	return a, fmt.Errorf("%s: %s is outside the ranges that may be probed (%s): not probed", Kind, a, pr.allowList())
}

func (pr *Prober) allowList() string {
	out := make([]string, len(pr.s.allow))
	for i, pf := range pr.s.allow {
		out[i] = pf.String()
	}
	return strings.Join(out, ", ")
}

func (pr *Prober) portList() string {
	out := make([]string, len(pr.s.Ports))
	for i, p := range pr.s.Ports {
		out[i] = strconv.Itoa(p)
	}
	return strings.Join(out, ", ")
}

// Plan says exactly what would be probed, or why the address may not be.
func (pr *Prober) Plan(req action.Request) (string, error) {
	a, err := pr.target(req)
	if err != nil {
		return "", err
	}
	banner := "no banner read"
	if pr.s.BannerBytes > 0 {
		banner = fmt.Sprintf("reading up to %d bytes of what an open port sends first within %v", pr.s.BannerBytes, pr.s.BannerWait)
	}
	return fmt.Sprintf("connect over TCP to %s ports %s from this monitor's host, each within %v, %s, sending nothing; report each port open, closed or filtered (at most %d probes per %v)",
		a, pr.portList(), pr.s.Timeout, banner, pr.s.Budget.Count, pr.s.Budget.Per), nil
}

// ErrBudget is what Execute's error wraps when the method's own budget
// of probes is spent; it wraps action.ErrRefused, so the decision is
// recorded refused.
var ErrBudget error = budgetError{}

type budgetError struct{}

func (budgetError) Error() string { return "probe budget spent" }
func (budgetError) Unwrap() error { return action.ErrRefused }

// take spends one probe of the budget, or says when the next is allowed.
func (pr *Prober) take() error {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	now := pr.clock.Now()
	k := 0
	for k < len(pr.spent) && now.Sub(pr.spent[k]) >= pr.s.Budget.Per {
		k++
	}
	pr.spent = pr.spent[k:]
	if len(pr.spent) >= pr.s.Budget.Count {
		next := pr.spent[0].Add(pr.s.Budget.Per).Sub(now)
		return fmt.Errorf("%s: %w: %d probes per %v (the next is allowed in %v)", Kind, ErrBudget, pr.s.Budget.Count, pr.s.Budget.Per, next.Round(time.Second))
	}
	pr.spent = append(pr.spent, now)
	return nil
}

// Port states.
const (
	Open     = "open"
	Closed   = "closed"
	Filtered = "filtered"
)

// Result is what one port answered.
type Result struct {
	Port int
	// State is Open, Closed or Filtered.
	State string
	// Why says what made a port filtered ("no answer within 1s", "host
	// unreachable").
	Why string
	// Banner is the first bytes an open port sent (only when asked).
	Banner []byte
}

func (r Result) String() string {
	s := fmt.Sprintf("%d/tcp %s", r.Port, r.State)
	switch {
	case r.Why != "":
		s += " (" + r.Why + ")"
	case len(r.Banner) > 0:
		s += " " + QuoteBanner(r.Banner)
	}
	return s
}

// Execute probes the subject's address on every configured port and
// reports what each answered. A port closed or filtered is a result, not
// an error; an address outside the allow ranges, or a spent budget, is
// refused and nothing is sent.
func (pr *Prober) Execute(ctx context.Context, req action.Request) (action.Outcome, error) {
	a, err := pr.target(req)
	if err != nil {
		return action.Outcome{}, fmt.Errorf("%w: %w", action.ErrRefused, err)
	}
	if err := pr.take(); err != nil {
		return action.Outcome{}, err
	}
	results := pr.Probe(ctx, a)
	// The deadline of a connection is its context's, met by the clock of
	// the network poller a moment before the context says so itself.
	err = ctx.Err()
	if d, ok := ctx.Deadline(); ok && err == nil && !time.Now().Before(d) {
		err = context.DeadlineExceeded
	}
	if err != nil {
		return action.Outcome{}, fmt.Errorf("%s: probing %s: %w", Kind, a, err)
	}
	parts := make([]string, len(results))
	for i, r := range results {
		parts[i] = r.String()
	}
	return action.Outcome{Detail: fmt.Sprintf("probed %s: %s", a, strings.Join(parts, ", "))}, nil
}

// Probe connects to every configured port of a (checked by the caller),
// a few at once, and returns the results in the ports' order.
func (pr *Prober) Probe(ctx context.Context, a netip.Addr) []Result {
	out := make([]Result, len(pr.s.Ports))
	slots := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, port := range pr.s.Ports {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			out[i] = pr.port(ctx, netip.AddrPortFrom(a, uint16(port)))
		}()
	}
	wg.Wait()
	return out
}

// port probes one port.
func (pr *Prober) port(ctx context.Context, ap netip.AddrPort) Result {
	r := Result{Port: int(ap.Port())}
	cctx, cancel := context.WithTimeout(ctx, pr.s.Timeout)
	defer cancel()
	conn, err := pr.dial(cctx, "tcp", ap.String())
	if err != nil {
		r.State, r.Why = classify(err, pr.s.Timeout)
		return r
	}
	defer conn.Close()
	r.State = Open
	if pr.s.BannerBytes > 0 {
		deadline := time.Now().Add(pr.s.BannerWait)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		_ = conn.SetReadDeadline(deadline)
		buf := make([]byte, pr.s.BannerBytes)
		n := 0
		for n < len(buf) {
			m, err := conn.Read(buf[n:])
			n += m
			if err != nil {
				break
			}
		}
		r.Banner = buf[:n]
	}
	return r
}

// classify names what a failed connection says of the port: refused
// (a reset) is closed; no answer, or an ICMP error, is filtered.
func classify(err error, timeout time.Duration) (string, string) {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return Closed, ""
	case errors.Is(err, syscall.EHOSTUNREACH):
		return Filtered, "host unreachable"
	case errors.Is(err, syscall.ENETUNREACH):
		return Filtered, "network unreachable"
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return Filtered, fmt.Sprintf("no answer within %v", timeout)
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		err = oe.Err
	}
	return Filtered, action.Clip(err.Error(), 120)
}

// QuoteBanner writes what a peer sent as one line of quoted text: printable
// characters as they are, everything else (control characters, line
// breaks, invalid UTF-8) escaped, so that no banner can end a log line,
// forge another or act on a terminal.
func QuoteBanner(b []byte) string { return strconv.QuoteToGraphic(string(b)) }
