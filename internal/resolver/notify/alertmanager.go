package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/resolver/action"
)

// DefaultActiveFor is how long an alert sent to Alertmanager stays active
// when neither an undo nor the decision's expiry ends it sooner.
const DefaultActiveFor = 24 * time.Hour

// AlertmanagerSettings are an alertmanager method's section of a resource
// object.
type AlertmanagerSettings struct {
	// URL is Alertmanager's base URL (http://alertmanager:9093); alerts go
	// to its /api/v2/alerts.
	URL string `yaml:"url"`
	// Labels are added to every alert (a team, an environment); they must
	// not be one of the labels Vigil sets.
	Labels map[string]string `yaml:"labels"`
	// GeneratorURL, when set, is each alert's generatorURL; "{id}" in it
	// becomes the decision's id.
	GeneratorURL string `yaml:"generator_url"`
	// ActiveFor is how long an alert stays active when the decision does
	// not expire sooner and no undo resolves it first.
	ActiveFor time.Duration     `yaml:"active_for"`
	Headers   map[string]string `yaml:"headers"`
	CAFile    string            `yaml:"ca_file"`
	Retry     `yaml:",inline"`

	base string
}

func newAlertmanagerSettings() config.Settings {
	return &AlertmanagerSettings{ActiveFor: DefaultActiveFor, Retry: defaultRetry()}
}

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// The labels Vigil sets on each alert.
var ownLabels = []string{"alertname", "decision", "engine", "host", "ip", "monitor", "policy", "severity"}

// Validate checks the URL, the labels, the CA file and the retry settings.
func (s *AlertmanagerSettings) Validate(p *config.Problems, path string) {
	s.base = p.BaseDir
	checkURL(p, config.Join(path, "url"), s.URL)
	for k := range s.Labels {
		switch {
		case !labelName.MatchString(k):
			p.Addf(config.Join(path, "labels."+k), "not a label name (letters, digits and _, not starting with a digit)")
		case isOwnLabel(k):
			p.Addf(config.Join(path, "labels."+k), "label %s is set by the method (its own: %s)", k, strings.Join(ownLabels, ", "))
		}
	}
	if s.GeneratorURL != "" {
		checkURL(p, config.Join(path, "generator_url"), strings.ReplaceAll(s.GeneratorURL, "{id}", "x"))
	}
	if s.ActiveFor <= 0 {
		p.Addf(config.Join(path, "active_for"), "must be positive")
	}
	checkHeaders(p, config.Join(path, "headers"), s.Headers)
	action.CheckCAFile(p, config.Join(path, "ca_file"), action.Deps{}.Path(s.base, s.CAFile))
	s.Retry.validate(p, path)
}

func isOwnLabel(k string) bool {
	for _, l := range ownLabels {
		if l == k {
			return true
		}
	}
	return false
}

func alertmanagerFactory() action.Factory {
	return action.Factory{
		Kind:        KindAlertmanager,
		Undoable:    true,
		NewSettings: newAlertmanagerSettings,
		New: func(_ context.Context, cs config.Settings, deps action.Deps) (action.Method, error) {
			s, ok := cs.(*AlertmanagerSettings)
			if !ok {
				return nil, fmt.Errorf("alertmanager: settings of type %T", cs)
			}
			return newAlertmanager(s, deps)
		},
	}
}

// Alertmanager raises one alert per decision in Prometheus Alertmanager
// and resolves it on undo.
type Alertmanager struct {
	s     *AlertmanagerSettings
	url   *url.URL
	post  *poster
	clock clock.Clock
	deps  action.Deps
}

var (
	_ action.Undoer = (*Alertmanager)(nil)
	_ action.Closer = (*Alertmanager)(nil)
)

func newAlertmanager(s *AlertmanagerSettings, deps action.Deps) (*Alertmanager, error) {
	base, err := url.Parse(s.URL)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	u := base.JoinPath("api", "v2", "alerts")
	log := deps.Logger
	if log != nil {
		log = log.With("response", deps.Name)
	}
	p, err := newPoster(KindAlertmanager, deps.Path(s.base, s.CAFile), s.Retry, s.Headers, log)
	if err != nil {
		return nil, err
	}
	return &Alertmanager{s: s, url: u, post: p, clock: clockOf(deps), deps: deps}, nil
}

// Alert is one alert of Alertmanager's API v2.
type Alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// alertSeverity is the severity label: Alertmanager's usual names.
func alertSeverity(s event.Severity) string {
	switch s {
	case event.SeverityRed:
		return "critical"
	case event.SeverityYellow:
		return "warning"
	}
	return "info"
}

// alert builds the alert of req, active from the decision until its
// expiry or ActiveFor.
func (a *Alertmanager) alert(req action.Request) Alert {
	l := map[string]string{}
	for k, v := range a.s.Labels {
		l[k] = v
	}
	r := last(req.Reports)
	name := req.Policy
	if name == "" && r != nil {
		name = r.Model
	}
	if name == "" {
		name = "VigilDecision"
	}
	l["alertname"] = name
	l["decision"] = req.ID
	l["severity"] = alertSeverity(topSeverity(req.Reports))
	l["monitor"] = a.deps.Monitor
	set := func(k, v string) {
		if v != "" {
			l[k] = v
		}
	}
	set("policy", req.Policy)
	set("host", subjectHost(req))
	set("ip", subjectIP(req))
	if r != nil {
		set("engine", r.Engine)
		if l["monitor"] == "" {
			l["monitor"] = r.Monitor
		}
	}
	if l["monitor"] == "" {
		delete(l, "monitor")
	}
	ann := map[string]string{"summary": title(req)}
	if req.Reason != "" {
		ann["reason"] = req.Reason
	}
	if r != nil && r.Explanation != "" {
		ann["explanation"] = r.Explanation
	}
	start := req.Time.UTC()
	if start.IsZero() {
		start = a.clock.Now().UTC()
	}
	end := start.Add(a.s.ActiveFor)
	if !req.Expires.IsZero() && req.Expires.Before(end) {
		end = req.Expires.UTC()
	}
	al := Alert{Labels: l, Annotations: ann, StartsAt: start, EndsAt: end}
	if a.s.GeneratorURL != "" {
		al.GeneratorURL = strings.ReplaceAll(a.s.GeneratorURL, "{id}", url.PathEscape(req.ID))
	}
	return al
}

func labelString(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", k, l[k])
	}
	b.WriteByte('}')
	return b.String()
}

// Plan says which alert would be raised where.
func (a *Alertmanager) Plan(req action.Request) (string, error) {
	al := a.alert(req)
	body, err := json.Marshal([]Alert{al})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("POST alert %s active until %s to %s: %s", labelString(al.Labels),
		al.EndsAt.Format(time.RFC3339), redactURL(a.url), preview(body)), nil
}

// Execute raises the alert. Sending it again (the same decision) only
// refreshes it.
func (a *Alertmanager) Execute(ctx context.Context, req action.Request) (action.Outcome, error) {
	if req.ID == "" {
		return action.Outcome{}, errors.New("alertmanager: request without an id")
	}
	al := a.alert(req)
	body, err := json.Marshal([]Alert{al})
	if err != nil {
		return action.Outcome{}, err
	}
	status, tries, err := a.post.post(ctx, a.url, body, nil)
	if err != nil {
		return action.Outcome{}, err
	}
	undo, err := json.Marshal(al)
	if err != nil {
		return action.Outcome{}, err
	}
	return action.Outcome{
		Detail: fmt.Sprintf("raised alert %s until %s at %s: %s after %d %s", labelString(al.Labels),
			al.EndsAt.Format(time.RFC3339), redactURL(a.url), status, tries, plural(tries, "try", "tries")),
		Expires: al.EndsAt,
		Undo:    undo,
	}, nil
}

// Undo resolves the alert: the same labels, endsAt now.
func (a *Alertmanager) Undo(ctx context.Context, req action.Request, out action.Outcome) error {
	var al Alert
	if len(out.Undo) > 0 {
		if err := json.Unmarshal(out.Undo, &al); err != nil || len(al.Labels) == 0 {
			return fmt.Errorf("alertmanager: undo record of decision %q unreadable: %v", action.Clip(req.ID, 64), err)
		}
	} else {
		al = a.alert(req)
	}
	now := a.clock.Now().UTC()
	if !al.EndsAt.IsZero() && !al.EndsAt.After(now) {
		return nil // it has ended by itself already
	}
	al.EndsAt = now
	if al.StartsAt.After(now) {
		al.StartsAt = now
	}
	body, err := json.Marshal([]Alert{al})
	if err != nil {
		return err
	}
	if _, _, err := a.post.post(ctx, a.url, body, nil); err != nil {
		return fmt.Errorf("resolving alert %s: %w", labelString(al.Labels), err)
	}
	return nil
}

// Close releases idle connections.
func (a *Alertmanager) Close() error {
	a.post.close()
	return nil
}
