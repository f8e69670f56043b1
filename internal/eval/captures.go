package eval

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/vigil-ids/vigil/internal/engine/profile"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/sensor/netsensor"
)

// Capture is one shared capture and what it holds.
type Capture struct {
	Path   string // relative to the datasets directory
	Attack string // "" for normal traffic
}

// Captures are the shared captures the gateway evaluations use: attacks
// (scans, floods, fingerprinting) and normal traffic.
var Captures = []Capture{
	{"pcap-chrissanders/synscan.pcapng", "SYN scan"},
	{"pcap-ppa1e/portscan.pcap", "SYN port scan"},
	{"pcap-chrissanders/activeosfingerprinting.pcapng", "active OS fingerprinting"},
	{"pcap-ppa1e/osfingerprinting.pcap", "ICMP OS fingerprinting"},
	{"pcap-ppa1e/dosattack.pcap", "spoofed SYN flood"},
	{"pcap-stopddos/pkt.TCP.DOMINATE.syn.ecn.cwr.pcapng", "SYN flood"},
	{"pcap-stopddos/amp.TCP.reflection.SYNACK.pcap", "SYN-ACK reflection"},
	{"pcap-chrissanders/http_dvwa_clearlogin.pcapng", ""},
	{"pcap-chrissanders/http_espn.pcapng", ""},
	{"pcap-chrissanders/http_google.pcapng", ""},
	{"pcap-chrissanders/http_post.pcapng", ""},
	{"pcap-ppa1e/http.cap", ""},
	{"pcap-chrissanders/dns_query_response.pcapng", ""},
	{"pcap-chrissanders/icmp_echo.pcapng", ""},
	{"pcap-chrissanders/icmp_traceroute.pcapng", ""},
	{"pcap-ppa1e/icmp.pcap", ""},
	{"pcap-ppa1e/telnet.pcap", ""},
	{"pcap-chrissanders/tcp_handshake.pcapng", ""},
	{"pcap-chrissanders/tcp_ports.pcapng", ""},
}

// rescaled replays a capture from base, its time between packets
// multiplied by factor (0.5: twice as fast).
type rescaled struct {
	netsensor.Source
	base   time.Time
	first  time.Time
	factor float64
	last   time.Time
}

func (r *rescaled) Next() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := r.Source.Next()
	if err != nil {
		return data, ci, err
	}
	if r.first.IsZero() {
		r.first = ci.Timestamp
	}
	ci.Timestamp = r.base.Add(time.Duration(float64(ci.Timestamp.Sub(r.first)) * r.factor))
	r.last = ci.Timestamp
	return data, ci, nil
}

func (r *rescaled) LinkType() layers.LinkType { return r.Source.LinkType() }

// records runs a capture through the network sensor from base at a rate
// factor, and returns its records and when its last packet came.
func records(path string, base time.Time, factor float64, seed uint64) ([]event.Event, time.Time, error) {
	src, err := netsensor.OpenFile(path)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer src.Close()
	rs := &rescaled{Source: src, base: base, factor: factor}
	var out []event.Event
	s := netsensor.New(netsensor.Config{ID: "gateway"}, event.NewSeededIDs(seed), func(ev event.Event) { out = append(out, ev) }, nil)
	if err := s.Run(context.Background(), rs); err != nil {
		return nil, time.Time{}, fmt.Errorf("%s: %w", path, err)
	}
	s.Flush()
	end := rs.last
	for _, ev := range out {
		if ev.Time.After(end) {
			end = ev.Time
		}
	}
	return out, end, nil
}

// CaptureOutcome is what the profiler made of one capture replay.
type CaptureOutcome struct {
	Capture string  `json:"capture"`
	Attack  string  `json:"attack,omitempty"`
	Rate    float64 `json:"rate"`
	Flagged bool    `json:"flagged"`
	// Why is the first report's explanation.
	Why string `json:"why,omitempty"`
}

// GatewayCaptures trains the classes on the normal captures (replayed in
// turn, rounds times, then a long-term update, then rounds times more to
// learn how their scores spread), then replays, learning nothing and
// from the trained profiles, each attack capture alone, and the normal
// captures in turn at half, the same and twice their rate, and says which
// the profiler flags.
func GatewayCaptures(dir string, classes []*profile.Class, rounds int) (Report, []CaptureOutcome, error) {
	p := profile.New(classes, profile.Options{})
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	var trained bytes.Buffer
	seed := uint64(1)
	play := func(c Capture, factor float64, learn bool) (CaptureOutcome, error) {
		evs, end, err := records(filepath.Join(dir, c.Path), at, factor, seed)
		seed++
		if err != nil {
			return CaptureOutcome{}, err
		}
		out := CaptureOutcome{Capture: c.Path, Attack: c.Attack, Rate: 1 / factor}
		for i := range evs {
			for _, r := range p.Observe(&evs[i], learn) {
				if !learn && r.Ready && r.Rank >= r.Class.Alert && r.T2 > r.Threshold && !out.Flagged {
					out.Flagged, out.Why = true, profile.Explain(r.Class.Name, r.Score, 3)
				}
			}
		}
		at = end.Add(time.Minute)
		return out, nil
	}
	var normal []Capture
	for _, c := range Captures {
		if c.Attack == "" {
			normal = append(normal, c)
		}
	}
	for phase := range 2 {
		for range rounds {
			for _, c := range normal {
				if _, err := play(c, 1, true); err != nil {
					return Report{}, nil, err
				}
			}
		}
		if phase == 0 {
			p.Fold()
		}
	}
	// Each replay below starts from the trained profiles: what one replay
	// moved (short-term profiles, intensities) must not colour the next.
	if err := p.Export(&trained); err != nil {
		return Report{}, nil, err
	}
	restore := func() error {
		p = profile.New(classes, profile.Options{})
		_, err := p.Import(bytes.NewReader(trained.Bytes()))
		return err
	}
	var outs []CaptureOutcome
	detected, attacks := 0, 0
	falseAlarms := map[float64]int{}
	// Each attack alone, from the trained profiles.
	for _, c := range Captures {
		if c.Attack == "" {
			continue
		}
		if err := restore(); err != nil {
			return Report{}, nil, err
		}
		o, err := play(c, 1, false)
		if err != nil {
			return Report{}, nil, err
		}
		outs = append(outs, o)
		attacks++
		if o.Flagged {
			detected++
		}
	}
	// The normal traffic as it was learnt, in the same order, at half,
	// the same and twice its rate.
	for _, f := range []float64{2, 1, 0.5} {
		if err := restore(); err != nil {
			return Report{}, nil, err
		}
		for _, c := range normal {
			o, err := play(c, f, false)
			if err != nil {
				return Report{}, nil, err
			}
			outs = append(outs, o)
			if o.Flagged {
				falseAlarms[o.Rate]++
			}
		}
	}
	rep := Report{Dataset: fmt.Sprintf("shared captures through the network sensor: trained on %d normal captures (%d rounds, a long-term update, %d more)", len(normal), rounds, rounds),
		Results: []map[string]any{{"detector": "profile", "attacks_flagged": detected, "attacks": attacks,
			"normal_flagged_at_half_rate": falseAlarms[0.5], "normal_flagged_at_same_rate": falseAlarms[1], "normal_flagged_at_twice_rate": falseAlarms[2],
			"normal": len(normal)}}}
	return rep, outs, nil
}
