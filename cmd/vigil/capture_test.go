package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestGatewayPackOnCaptures runs the shipped gateway configuration over the
// network sensor's records of the shared public captures, as an operator
// would (vigil netsensor --pcap F --stdout | vigil replay --config
// configs/gateway.yaml): each attack capture raises exactly the reports
// expected, naming the attacker where the attacker's address is real, and
// each capture of normal traffic raises none.
func TestGatewayPackOnCaptures(t *testing.T) {
	data := filepath.Join("..", "..", "..", "shared", "datasets")
	if _, err := os.Stat(data); err != nil {
		t.Skipf("the shared captures are not here (%v): a fresh clone has no ../shared", err)
	}
	type want struct {
		model, src, ip string // src or ip "" is not checked
	}
	cases := []struct {
		file string
		want []want
	}{
		// Scans: the scanner is the source.
		{"pcap-chrissanders/synscan.pcapng", []want{{"satan-probe", "172.16.0.8", "64.13.134.52"}, {"tcp-port-scan", "172.16.0.8", "64.13.134.52"}}},
		{"pcap-ppa1e/portscan.pcap", []want{{"satan-probe", "10.100.25.14", "10.100.18.12"}, {"tcp-port-scan", "10.100.25.14", "10.100.18.12"}}},
		{"pcap-chrissanders/activeosfingerprinting.pcapng", []want{{"stealth-probe", "172.16.16.128", "172.16.16.150"}}},
		{"pcap-ppa1e/osfingerprinting.pcap", []want{{"icmp-os-fingerprint", "10.0.0.29", "10.0.0.2"}}},
		// Floods: sources are forged, so the reports name the target and
		// say the sources are spoofed; a forged impossible address is
		// reported as such.
		{"pcap-ppa1e/dosattack.pcap", []want{{"martian-source", "246.160.37.73", ""}, {"spoofed-flood", "", ""}}},
		{"pcap-stopddos/pkt.TCP.DOMINATE.syn.ecn.cwr.pcapng", []want{{"spoofed-flood", "", ""}, {"syn-flood", "", "10.10.10.10"}}},
		{"pcap-stopddos/amp.TCP.reflection.SYNACK.pcap", []want{{"synack-reflection", "", "10.10.10.10"}, {"unsolicited-unreachable", "", "10.10.10.10"}}},
		// Web attacks on DVWA: the attacking browser is the source.
		{"pcap-chrissanders/http_dvwa_sqlinjection.pcapng", []want{{"http-sql-injection", "10.2.2.101", "10.2.2.104"}}},
		{"pcap-chrissanders/http_dvwa_directorytraversal.pcapng", []want{{"http-system-file", "10.2.2.101", "10.2.2.104"}, {"http-traversal", "10.2.2.101", "10.2.2.104"}}},
		// Normal traffic: web, DNS, ICMP, telnet, TCP.
		{"pcap-chrissanders/http_dvwa_clearlogin.pcapng", nil},
		{"pcap-chrissanders/http_espn.pcapng", nil},
		{"pcap-chrissanders/http_google.pcapng", nil},
		{"pcap-chrissanders/http_post.pcapng", nil},
		{"pcap-ppa1e/http.cap", nil},
		{"pcap-chrissanders/dns_query_response.pcapng", nil},
		{"pcap-chrissanders/icmp_echo.pcapng", nil},
		{"pcap-chrissanders/icmp_traceroute.pcapng", nil},
		{"pcap-ppa1e/icmp.pcap", nil},
		{"pcap-ppa1e/telnet.pcap", nil},
		{"pcap-chrissanders/tcp_handshake.pcapng", nil},
		{"pcap-chrissanders/tcp_ports.pcapng", nil},
	}
	cfg := filepath.Join("..", "..", "configs", "gateway.yaml")
	for _, c := range cases {
		t.Run(filepath.Base(c.file), func(t *testing.T) {
			sensor := exec.Command(vigilBin, "netsensor", "--pcap", filepath.Join(data, c.file), "--stdout", "--log-level", "error")
			records, err := sensor.Output()
			if err != nil {
				t.Fatalf("netsensor: %v", err)
			}
			replay := exec.Command(vigilBin, "replay", "--config", cfg, "--log-level", "error")
			replay.Stdin = bytes.NewReader(records)
			out, err := replay.Output()
			if err != nil {
				t.Fatalf("replay: %v\n%s", err, out)
			}
			type report struct {
				Model       string         `json:"model"`
				IP          string         `json:"ip"`
				Explanation string         `json:"explanation"`
				Attrs       map[string]any `json:"attrs"`
			}
			var got []report
			for line := range strings.SplitSeq(string(out), "\n") {
				var r report
				if json.Unmarshal([]byte(line), &r) == nil && r.Model != "" {
					got = append(got, r)
				}
			}
			var models, wantModels []string
			for _, r := range got {
				models = append(models, r.Model)
			}
			for _, w := range c.want {
				wantModels = append(wantModels, w.model)
			}
			slices.Sort(models)
			if !slices.Equal(models, wantModels) {
				t.Fatalf("reports %v, want %v\n%s", models, wantModels, out)
			}
			for _, w := range c.want {
				for _, r := range got {
					if r.Model != w.model {
						continue
					}
					if src, _ := r.Attrs["src"].(string); w.src != "" && src != w.src {
						t.Errorf("%s: source %q, want %q (%s)", r.Model, src, w.src, r.Explanation)
					}
					if w.ip != "" && r.IP != w.ip {
						t.Errorf("%s: target %q, want %q (%s)", r.Model, r.IP, w.ip, r.Explanation)
					}
					if w.src != "" && !strings.Contains(r.Explanation, w.src) {
						t.Errorf("%s: the explanation does not name the source %s: %s", r.Model, w.src, r.Explanation)
					}
					if w.src == "" && strings.Contains(r.Model, "flood") && !strings.Contains(r.Explanation, "sources") && !strings.Contains(r.Explanation, "reflectors") {
						t.Errorf("%s: a flood's explanation should say how many sources: %s", r.Model, r.Explanation)
					}
				}
			}
		})
	}
}
