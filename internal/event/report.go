package event

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Severity is a report's alert status: the green/yellow/red bar of seed 000
// Figure 7.
type Severity uint8

// Severities, in increasing order.
const (
	SeverityGreen Severity = iota
	SeverityYellow
	SeverityRed
)

func (s Severity) String() string {
	switch s {
	case SeverityGreen:
		return "green"
	case SeverityYellow:
		return "yellow"
	case SeverityRed:
		return "red"
	}
	return "severity(" + strconv.Itoa(int(s)) + ")"
}

// ParseSeverity parses "green", "yellow" or "red".
func ParseSeverity(s string) (Severity, error) {
	switch s {
	case "green":
		return SeverityGreen, nil
	case "yellow":
		return SeverityYellow, nil
	case "red":
		return SeverityRed, nil
	}
	return 0, fmt.Errorf("unknown severity %q (want green, yellow or red)", truncate(s, 20))
}

// MarshalText implements encoding.TextMarshaler.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Bands map a score in [0,1] to a severity: yellow from Yellow, red above
// Red.
type Bands struct {
	Yellow float64 `yaml:"yellow"`
	Red    float64 `yaml:"red"`
}

// DefaultBands are those of seed 000: below 0.5 green, 0.5 to 0.9 yellow,
// above 0.9 red.
func DefaultBands() Bands { return Bands{Yellow: 0.5, Red: 0.9} }

// Severity returns the band of score.
func (b Bands) Severity(score float64) Severity {
	switch {
	case score > b.Red:
		return SeverityRed
	case score >= b.Yellow:
		return SeverityYellow
	}
	return SeverityGreen
}

// Validate checks 0 <= Yellow <= Red <= 1.
func (b Bands) Validate() error {
	if !(0 <= b.Yellow && b.Yellow <= b.Red && b.Red <= 1) {
		return fmt.Errorf("bands must satisfy 0 <= yellow (%g) <= red (%g) <= 1", b.Yellow, b.Red)
	}
	return nil
}

// Report is an analysis result: what one engine of one monitor concludes
// about one subject, with the evidence behind it.
type Report struct {
	ID          string
	Time        time.Time
	Monitor     string   // the monitor that made the report
	Engine      string   // the engine instance within the monitor
	Model       string   // the model, rule or profile class that concluded
	Host        string   // the subject's host id
	IP          string   // the subject's address
	Score       float64  // in [0,1]
	Severity    Severity // alert status
	State       string   // e.g. the model state: "Compromised"
	Evidence    []string // ids of the events behind the conclusion
	Explanation string   // one line a person can read
	// Attrs holds engine-specific details (e.g. "observations",
	// "last_modified", "t2"). Names must not be those of the fields above.
	Attrs map[string]any
}

// reportFields are the attribute names a report's event form reserves.
var reportFields = map[string]bool{
	"monitor": true, "engine": true, "model": true, "score": true, "severity": true,
	"state": true, "evidence": true, "explanation": true,
}

// MaxExplanationLen is the longest explanation a report may carry.
const MaxExplanationLen = 1024

// Validate checks a report's fields.
func (r *Report) Validate() error {
	if r.Monitor == "" {
		return fieldErr("monitor", "missing")
	}
	if math.IsNaN(r.Score) || r.Score < 0 || r.Score > 1 {
		return fieldErr("score", "%v is not in [0,1]", r.Score)
	}
	if r.Severity > SeverityRed {
		return fieldErr("severity", "unknown severity %d", r.Severity)
	}
	if len(r.Explanation) > MaxExplanationLen {
		return fieldErr("explanation", "%d bytes, longer than the limit of %d", len(r.Explanation), MaxExplanationLen)
	}
	if len(r.Evidence) > MaxListLen {
		return fieldErr("evidence", "%d ids, more than the limit of %d", len(r.Evidence), MaxListLen)
	}
	for k := range r.Attrs {
		if reportFields[k] {
			return fieldErr("attrs."+k, "name reserved for the report's own field")
		}
	}
	ev := r.Event()
	return ev.Validate()
}

// Event returns the report as an event of type REPORT: its subject is the
// event's entity, its monitor the source, and its fields attributes.
func (r *Report) Event() Event {
	attrs := make(map[string]any, len(r.Attrs)+8)
	for k, v := range r.Attrs {
		attrs[k] = v
	}
	attrs["monitor"] = r.Monitor
	attrs["engine"] = r.Engine
	attrs["model"] = r.Model
	attrs["score"] = r.Score
	attrs["severity"] = r.Severity.String()
	attrs["state"] = r.State
	attrs["explanation"] = r.Explanation
	if r.Evidence != nil {
		attrs["evidence"] = r.Evidence
	}
	host := r.Host
	if host == "" && r.IP == "" {
		host = r.Monitor
	}
	return Event{
		ID:     r.ID,
		Time:   r.Time,
		Type:   TypeReport,
		Host:   host,
		IP:     r.IP,
		Source: r.Monitor,
		Attrs:  attrs,
	}
}

// ReportFromEvent recovers a report from its event form.
func ReportFromEvent(ev *Event) (Report, error) {
	if ev.Type != TypeReport {
		return Report{}, fieldErr("type", "%q is not %s", ev.Type, TypeReport)
	}
	r := Report{ID: ev.ID, Time: ev.Time, Host: ev.Host, IP: ev.IP}
	str := func(k string) (string, error) {
		switch v := ev.Attrs[k].(type) {
		case string:
			return v, nil
		case nil:
			return "", nil
		}
		return "", fieldErr("attrs."+k, "want a string")
	}
	var err error
	if r.Monitor, err = str("monitor"); err != nil {
		return Report{}, err
	}
	if r.Engine, err = str("engine"); err != nil {
		return Report{}, err
	}
	if r.Model, err = str("model"); err != nil {
		return Report{}, err
	}
	if r.State, err = str("state"); err != nil {
		return Report{}, err
	}
	if r.Explanation, err = str("explanation"); err != nil {
		return Report{}, err
	}
	sev, err := str("severity")
	if err != nil {
		return Report{}, err
	}
	if r.Severity, err = ParseSeverity(sev); err != nil {
		return Report{}, fieldErr("attrs.severity", "%v", err)
	}
	score, ok := ev.Num("score")
	if !ok {
		return Report{}, fieldErr("attrs.score", "missing or not a number")
	}
	r.Score = score
	switch v := ev.Attrs["evidence"].(type) {
	case []string:
		if len(v) > 0 {
			r.Evidence = v
		}
	case nil:
	default:
		return Report{}, fieldErr("attrs.evidence", "want a list of strings")
	}
	for k, v := range ev.Attrs {
		if !reportFields[k] {
			if r.Attrs == nil {
				r.Attrs = make(map[string]any)
			}
			r.Attrs[k] = v
		}
	}
	if r.Host == r.Monitor && r.IP == "" {
		// The event form names the monitor when the report has no subject.
		r.Host = ""
	}
	if err := r.Validate(); err != nil {
		return Report{}, err
	}
	return r, nil
}

// The JSON form of a report (stable; see docs/EVENTS.md):
//
//	{"id":"...","time":"...","monitor":"svc-web","engine":"track","model":"M3",
//	 "host":"web-3","ip":"10.0.0.3","score":0.95,"severity":"red",
//	 "state":"Compromised","evidence":["01J..."],"explanation":"...",
//	 "attrs":{"observations":42}}

// AppendJSON appends the JSON form of r to b.
func (r *Report) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, r.ID)
	b = append(b, `,"time":"`...)
	b = r.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","monitor":`...)
	b = appendString(b, r.Monitor)
	b = append(b, `,"engine":`...)
	b = appendString(b, r.Engine)
	b = append(b, `,"model":`...)
	b = appendString(b, r.Model)
	b = append(b, `,"host":`...)
	b = appendString(b, r.Host)
	b = append(b, `,"ip":`...)
	b = appendString(b, r.IP)
	b = append(b, `,"score":`...)
	b = appendFloat(b, r.Score)
	b = append(b, `,"severity":"`...)
	b = append(b, r.Severity.String()...)
	b = append(b, `","state":`...)
	b = appendString(b, r.State)
	b = append(b, `,"evidence":`...)
	b = appendValue(b, nonNil(r.Evidence))
	b = append(b, `,"explanation":`...)
	b = appendString(b, r.Explanation)
	if len(r.Attrs) > 0 {
		b = append(b, `,"attrs":`...)
		b = appendAttrs(b, r.Attrs)
	}
	return append(b, '}')
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// MarshalJSON implements json.Marshaler with the form of AppendJSON.
func (r Report) MarshalJSON() ([]byte, error) { return r.AppendJSON(nil), nil }

// DecodeReportJSON decodes and validates a report from its JSON form.
func DecodeReportJSON(data []byte) (Report, error) {
	var r Report
	if len(data) > MaxEventBytes {
		return r, fmt.Errorf("report of %d bytes is over the limit of %d: %w", len(data), MaxEventBytes, ErrTooLarge)
	}
	fields, err := decodeObject(data, 16)
	if err != nil {
		return r, err
	}
	for _, f := range fields {
		k, raw := f.name, f.raw
		switch k {
		case "id":
			r.ID, err = jsonString(k, raw)
		case "time":
			r.Time, err = jsonTime(k, raw)
		case "monitor":
			r.Monitor, err = jsonString(k, raw)
		case "engine":
			r.Engine, err = jsonString(k, raw)
		case "model":
			r.Model, err = jsonString(k, raw)
		case "host":
			r.Host, err = jsonString(k, raw)
		case "ip":
			r.IP, err = jsonString(k, raw)
		case "score":
			r.Score, err = jsonFloat(k, raw)
		case "severity":
			var s string
			if s, err = jsonString(k, raw); err == nil {
				if r.Severity, err = ParseSeverity(s); err != nil {
					err = fieldErr(k, "%v", err)
				}
			}
		case "state":
			r.State, err = jsonString(k, raw)
		case "evidence":
			r.Evidence, err = jsonStrings(k, raw)
		case "explanation":
			r.Explanation, err = jsonString(k, raw)
		case "attrs":
			r.Attrs, err = jsonAttrs(raw)
		default:
			err = fieldErr(k, "unknown field (known: id, time, monitor, engine, model, host, ip, score, severity, state, evidence, explanation, attrs)")
		}
		if err != nil {
			return Report{}, err
		}
	}
	if len(r.Evidence) == 0 {
		r.Evidence = nil
	}
	if err := r.Validate(); err != nil {
		return Report{}, err
	}
	return r, nil
}
