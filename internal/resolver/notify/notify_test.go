package notify

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/resolver/action"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// t0 is the decision time of the sample requests.
var t0 = time.Date(2026, 3, 14, 15, 9, 26, 535000000, time.UTC)

// sampleRequest is a decision of policy contain-web about web-3, after a
// yellow and then a red report of the tracker.
func sampleRequest() action.Request {
	return action.Request{
		ID: "01JDEC0000000000000000001", Policy: "contain-web", Method: "ops-hook", Kind: KindWebhook,
		Key:     "contain-web/web-3",
		Subject: action.Subject{Host: "web-3", Addr: netip.MustParseAddr("10.0.0.3")},
		Reason:  "track M3 red for web-3 (score 0.95 > 0.9)",
		Time:    t0,
		Reports: []event.Report{
			{ID: "01JREP1", Time: t0.Add(-time.Minute), Monitor: "svc-web", Engine: "track", Model: "M3", Host: "web-3", IP: "10.0.0.3",
				Score: 0.6, Severity: event.SeverityYellow, State: "Attacked", Explanation: "flood of connections"},
			{ID: "01JREP2", Time: t0, Monitor: "svc-web", Engine: "track", Model: "M3", Host: "web-3", IP: "10.0.0.3",
				Score: 0.95, Severity: event.SeverityRed, State: "Compromised", Explanation: "apache2 spawned a shell", Evidence: []string{"01JEV1", "01JEV2"}},
		},
	}
}

// testDeps are a monitor's deps with a manual clock at t0.
func testDeps(t *testing.T) action.Deps {
	return action.Deps{Name: "n1", Monitor: "svc-web", Clock: clock.NewManual(t0), Logger: testutil.Quiet(), Resolve: func(p string) string { return p }}
}

// build validates settings as the loader would and builds the method
// through the registry.
func build(t *testing.T, kind string, deps action.Deps, set func(config.Settings)) action.Method {
	t.Helper()
	r := action.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	s, ok := r.NewSettings(kind)
	if !ok {
		t.Fatalf("kind %s not registered", kind)
	}
	set(s)
	var p config.Problems
	s.Validate(&p, "responses[0]")
	if p.Len() > 0 {
		t.Fatalf("settings of %s do not validate: %v", kind, p.List())
	}
	m, err := r.Build(context.Background(), config.PluginSpec{Kind: kind, Name: deps.Name, Settings: s}, deps)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := m.(action.Closer); ok {
		t.Cleanup(func() { _ = c.Close() })
	}
	return m
}

// problems validates settings and returns the problems as "path: msg".
func problems(s config.Settings) []string {
	var p config.Problems
	s.Validate(&p, "r")
	var out []string
	for _, pr := range p.List() {
		out = append(out, pr.Path+": "+pr.Msg)
	}
	return out
}

// writeKey writes a webhook key file with mode perm.
func writeKey(t *testing.T, key string, perm os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hook.key")
	if err := os.WriteFile(path, []byte(key+"\n"), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRegisterOffersTheNotificationKinds(t *testing.T) {
	r := action.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	want := []string{KindAlertmanager, KindJSONFile, KindSyslog, KindWebhook}
	if got := r.Kinds(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("kinds %v, want %v", got, want)
	}
	for _, k := range want {
		f, _ := r.Factory(k)
		if len(f.Needs) != 0 {
			t.Errorf("%s needs %v; a notification needs no subject part", k, f.Needs)
		}
		if f.Undoable != (k == KindAlertmanager) {
			t.Errorf("%s: Undoable %v", k, f.Undoable)
		}
	}
	if err := Register(r); err == nil {
		t.Error("registering the kinds twice is not an error")
	}
}

func TestSettingsMistakesAreNamed(t *testing.T) {
	dir := t.TempDir()
	open := writeKey(t, "0123456789abcdef0123", 0o644)
	short := writeKey(t, "short", 0o600)
	cases := []struct {
		kind string
		set  func(config.Settings)
		want []string // substrings of the problems, in order
	}{
		{KindWebhook, func(s config.Settings) {}, []string{"r.url: missing", "r.secret_file: missing"}},
		{KindWebhook, func(s config.Settings) {
			w := s.(*WebhookSettings)
			w.URL, w.SecretFile, w.Format = "ftp://x/", open, "xml"
			w.Headers = map[string]string{"Content-Type": "text/plain", "X-Ok": "a\r\nInjected: 1"}
			w.Retries, w.Backoff = -1, 0
		}, []string{"r.url: scheme \"ftp\"", "mode 0644", "r.headers.Content-Type: Content-Type is set by the method", "r.headers.X-Ok: a header value must not hold a line break",
			"r.format: unknown format \"xml\"", "r.retries: must be between", "r.backoff:"}},
		{KindWebhook, func(s config.Settings) {
			w := s.(*WebhookSettings)
			w.URL, w.SecretFile, w.CAFile = "https://h/", short, filepath.Join(dir, "none.pem")
		}, []string{"key of 5 bytes", "r.ca_file:"}},
		{KindAlertmanager, func(s config.Settings) {
			a := s.(*AlertmanagerSettings)
			a.URL, a.ActiveFor = "http://am:9093", 0
			a.Labels = map[string]string{"severity": "x", "9bad": "y"}
		}, []string{"r.active_for", "r.labels.9bad: not a label name", "r.labels.severity: label severity is set by the method"}},
		{KindSyslog, func(s config.Settings) {
			l := s.(*SyslogSettings)
			l.Network, l.Address, l.Facility, l.AppName, l.SDID = "sctp", "nohost", "local9", "has space", "vigil"
		}, []string{"r.network: unknown network \"sctp\"", "r.address: want host:port", "r.facility: unknown facility \"local9\"", "r.app_name", "r.sd_id"}},
		{KindSyslog, func(s config.Settings) {
			l := s.(*SyslogSettings)
			l.Address, l.MaxMessageBytes, l.CAFile = "127.0.0.1:514", 100000, "ca.pem"
		}, []string{"r.max_message_bytes: a UDP datagram", "r.ca_file: ca_file and server_name apply to network tls only", "r.ca_file: open"}},
		{KindJSONFile, func(s config.Settings) {
			j := s.(*JSONFileSettings)
			j.Path, j.MaxBytes, j.Keep = filepath.Join(dir, "no", "such", "x.jsonl"), 10, -1
		}, []string{"r.path: directory of", "r.max_bytes", "r.keep"}},
	}
	r := action.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		s, _ := r.NewSettings(c.kind)
		c.set(s)
		got := problems(s)
		all := strings.Join(got, "\n")
		for _, w := range c.want {
			if !strings.Contains(all, w) {
				t.Errorf("case %d (%s): no problem saying %q in:\n%s", i, c.kind, w, all)
			}
		}
		if len(got) != len(c.want) {
			t.Errorf("case %d (%s): %d problems, want %d:\n%s", i, c.kind, len(got), len(c.want), all)
		}
	}
}

func TestDefaultSettingsValidateOnceRequiredFieldsAreGiven(t *testing.T) {
	key := writeKey(t, "0123456789abcdef0123", 0o600)
	dir := t.TempDir()
	r := action.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	fill := map[string]func(config.Settings){
		KindWebhook: func(s config.Settings) {
			w := s.(*WebhookSettings)
			w.URL, w.SecretFile = "https://hooks.example/x", key
		},
		KindAlertmanager: func(s config.Settings) { s.(*AlertmanagerSettings).URL = "http://am:9093" },
		KindSyslog:       func(s config.Settings) { s.(*SyslogSettings).Address = "logs.example:514" },
		KindJSONFile:     func(s config.Settings) { s.(*JSONFileSettings).Path = filepath.Join(dir, "d.jsonl") },
	}
	for _, k := range r.Kinds() {
		s, _ := r.NewSettings(k)
		fill[k](s)
		if got := problems(s); len(got) > 0 {
			t.Errorf("%s with its defaults: %v", k, got)
		}
	}
}
