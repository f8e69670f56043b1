// Package notify holds the response methods that tell people and other
// systems about a decision instead of acting on a host: a signed webhook,
// Prometheus Alertmanager's API v2 (alerts that resolve on undo), syslog
// (RFC 5424 over UDP, TCP or TLS) and a JSON-lines file. Webhook, syslog
// and file bodies come in Vigil's own form or as an OCSF Detection Finding
// (docs/RESPONSES.md, "Notifications").
//
// Every kind needs no subject part: a notification is about the decision
// as a whole. Strings that come from reports (host names, explanations,
// process names) are attacker-controlled: they are sent as JSON strings or
// escaped syslog parameter values, never interpreted, and no method writes
// a secret (a webhook key) into a log, a plan or an outcome.
package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"runtime/debug"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/resolver/action"
)

// The kinds this package registers.
const (
	KindWebhook      = "webhook"
	KindAlertmanager = "alertmanager"
	KindSyslog       = "syslog"
	KindJSONFile     = "jsonfile"
)

// Body formats.
const (
	FormatVigil = "vigil"
	FormatOCSF  = "ocsf"
)

// Register adds the notification kinds to r.
func Register(r *action.Registry) error {
	for _, f := range []action.Factory{webhookFactory(), alertmanagerFactory(), syslogFactory(), jsonfileFactory()} {
		if err := r.Register(f); err != nil {
			return err
		}
	}
	return nil
}

// Version is the product version written into bodies (OCSF
// metadata.product.version): the module's version when the binary was
// built from a tagged module, else "dev". The binary may set its own at
// start.
var Version = moduleVersion()

func moduleVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// validFormat checks a format setting.
func validFormat(p *config.Problems, path, format string) {
	if format != FormatVigil && format != FormatOCSF {
		p.Addf(config.Join(path, "format"), "unknown format %q (want %s or %s)", action.Clip(format, 32), FormatVigil, FormatOCSF)
	}
}

// Decision is the Vigil form of a notification: the decision, its subject
// and the reports behind it (docs/RESPONSES.md). It is what webhooks POST
// and the file appends with format vigil.
type Decision struct {
	ID      string         `json:"id"`
	Time    time.Time      `json:"time"`
	Monitor string         `json:"monitor,omitempty"`
	Policy  string         `json:"policy,omitempty"`
	Method  string         `json:"method"`
	Kind    string         `json:"kind"`
	Key     string         `json:"key,omitempty"`
	Reason  string         `json:"reason,omitempty"`
	Subject action.Subject `json:"subject"`
	// Severity is the most severe of the reports' severities.
	Severity event.Severity `json:"severity"`
	Reports  []event.Report `json:"reports"`
	Expires  time.Time      `json:"expires,omitzero"`
}

// decisionOf builds the Vigil form of req.
func decisionOf(req action.Request, monitor string) Decision {
	reports := req.Reports
	if reports == nil {
		reports = []event.Report{}
	}
	return Decision{
		ID: req.ID, Time: req.Time.UTC(), Monitor: monitor, Policy: req.Policy, Method: req.Method,
		Kind: req.Kind, Key: req.Key, Reason: req.Reason, Subject: req.Subject,
		Severity: topSeverity(req.Reports), Reports: reports, Expires: req.Expires,
	}
}

// render encodes req in format: one JSON object, no trailing newline.
func render(format string, req action.Request, monitor string) ([]byte, error) {
	var v any
	switch format {
	case FormatOCSF:
		v = ocsfOf(req, monitor)
	default:
		v = decisionOf(req, monitor)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding the %s body: %w", format, err)
	}
	return b, nil
}

// topSeverity is the most severe severity among reports (green when
// there are none).
func topSeverity(reports []event.Report) event.Severity {
	s := event.SeverityGreen
	for i := range reports {
		if reports[i].Severity > s && reports[i].Severity <= event.SeverityRed {
			s = reports[i].Severity
		}
	}
	return s
}

// last returns the most recent report (the last), or nil.
func last(reports []event.Report) *event.Report {
	if len(reports) == 0 {
		return nil
	}
	return &reports[len(reports)-1]
}

// subjectHost is the host a decision is about: the subject's, or the last
// report's.
func subjectHost(req action.Request) string {
	if req.Subject.Host != "" {
		return req.Subject.Host
	}
	if r := last(req.Reports); r != nil {
		return r.Host
	}
	return ""
}

// subjectIP is the address a decision is about: the subject's, or the
// last report's.
func subjectIP(req action.Request) string {
	if req.Subject.Addr.IsValid() {
		return req.Subject.Addr.String()
	}
	if req.Subject.Prefix.IsValid() {
		return req.Subject.Prefix.String()
	}
	if r := last(req.Reports); r != nil {
		return r.IP
	}
	return ""
}

// preview shows a body in a plan: whole up to a limit, then cut with its
// length said.
func preview(b []byte) string {
	const max = 4096
	if len(b) <= max {
		return string(b)
	}
	return fmt.Sprintf("%s... (%d bytes in all)", action.Clip(string(b), max), len(b))
}

// redactURL shows a URL without its password and query values, which
// may hold tokens.
func redactURL(u *url.URL) string {
	c := *u
	if c.RawQuery != "" {
		q := c.Query()
		for k := range q {
			q[k] = []string{"REDACTED"}
		}
		c.RawQuery = q.Encode()
	}
	return c.Redacted()
}

// checkURL validates an http(s) URL setting.
func checkURL(p *config.Problems, path, raw string) {
	if raw == "" {
		p.Addf(path, "missing: an http:// or https:// URL")
		return
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		p.Addf(path, "not a URL: %v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		p.Addf(path, "scheme %q: want http or https", action.Clip(u.Scheme, 16))
	case u.Host == "":
		p.Addf(path, "no host in %q", u.Redacted())
	}
}

// Retry is how a method that sends over the network tries again.
type Retry struct {
	// Timeout bounds one try.
	Timeout time.Duration `yaml:"timeout"`
	// Retries is how many times a failed try is repeated (0: once only).
	Retries int `yaml:"retries"`
	// Backoff is the pause before the first retry; each next pause
	// doubles, up to MaxBackoff, and a random part of up to half of it is
	// added (jitter), so that many monitors do not retry in step.
	Backoff    time.Duration `yaml:"backoff"`
	MaxBackoff time.Duration `yaml:"max_backoff"`
}

// Defaults of Retry.
const (
	DefaultTimeout    = 5 * time.Second
	DefaultRetries    = 4
	DefaultBackoff    = 500 * time.Millisecond
	DefaultMaxBackoff = 30 * time.Second
	maxRetries        = 20
)

func defaultRetry() Retry {
	return Retry{Timeout: DefaultTimeout, Retries: DefaultRetries, Backoff: DefaultBackoff, MaxBackoff: DefaultMaxBackoff}
}

func (r *Retry) validate(p *config.Problems, path string) {
	if r.Timeout <= 0 || r.Timeout > 10*time.Minute {
		p.Addf(config.Join(path, "timeout"), "must be between 1ns and 10m")
	}
	if r.Retries < 0 || r.Retries > maxRetries {
		p.Addf(config.Join(path, "retries"), "must be between 0 and %d", maxRetries)
	}
	if r.Backoff <= 0 || r.MaxBackoff < r.Backoff || r.MaxBackoff > time.Hour {
		p.Addf(config.Join(path, "backoff"), "backoff must be positive and at most max_backoff, itself at most 1h")
	}
}

// pause returns the wait before retry n (n from 1): Backoff * 2^(n-1),
// capped at MaxBackoff, plus up to half of that at random.
func (r *Retry) pause(n int) time.Duration {
	d := r.Backoff
	for i := 1; i < n && d < r.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, r.MaxBackoff)
	if half := int64(d / 2); half > 0 {
		d += time.Duration(rand.Int64N(half + 1))
	}
	return d
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// clockOf returns deps' clock, or the wall clock.
func clockOf(deps action.Deps) clock.Clock {
	if deps.Clock != nil {
		return deps.Clock
	}
	return clock.Real{}
}
