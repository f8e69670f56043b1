package netsensor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// datasets is where the shared public captures live, beside the checkout.
const datasets = "../../../../shared/datasets"

// readCapture runs the sensor over a shared capture with one summary
// interval for the whole file and a budget no capture reaches, so every
// activity record is there to count. It skips when the captures are not
// beside the checkout.
func readCapture(t *testing.T, rel string) (recs []event.Event, st Stats) {
	t.Helper()
	path := filepath.Join(datasets, rel)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("shared capture %s not here (a clone without ../shared): %v", rel, err)
	}
	src, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	s := New(Config{ID: "gw", SummaryInterval: 24 * time.Hour, RecordBudget: 1 << 30}, nil, func(ev event.Event) { recs = append(recs, ev) }, nil)
	if err := s.Run(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	return recs, s.Stats()
}

// tally counts records of a type by the value of an attribute ("" counts
// them all under "").
func tally(recs []event.Event, typ, attr string) map[string]int {
	m := map[string]int{}
	for _, r := range recs {
		if r.Type != typ {
			continue
		}
		k := ""
		if attr != "" {
			k = r.Str(attr)
		}
		m[k]++
	}
	return m
}

// summary returns the summary record of a subject.
func summary(t *testing.T, recs []event.Event, kind, subject string) event.Event {
	t.Helper()
	for _, r := range recs {
		if r.Type == TypeSummary && r.Str("kind") == kind && r.Str("subject") == subject {
			return r
		}
	}
	t.Fatalf("no %s summary of %s", kind, subject)
	return event.Event{}
}

func num(ev event.Event, name string) int64 {
	n, _ := ev.Int(name)
	return n
}

// TestCaptureScans checks connection attempts against counts taken with
// tshark on the same files:
//
//	tshark -r F -Y 'tcp.flags.syn==1 && tcp.flags.ack==0' -T fields -e ip.src -e tcp.srcport -e ip.dst -e tcp.dstport | sort -u | wc -l   (attempts)
//	tshark -r F -Y 'tcp.flags.syn==1 && tcp.flags.ack==0' | wc -l                                                                            (SYN segments)
//	tshark -r F -Y 'tcp.flags.syn==1 && tcp.flags.ack==0' -T fields -e tcp.dstport | sort -u | wc -l                                        (distinct ports)
//	tshark -r F -Y 'tcp.flags.reset==1' | wc -l                                                                                                (RSTs)
//
// and, for the outcomes of synscan.pcapng, the SYN-ACKs and RSTs the
// target sent back (tcp.flags.syn==1 && tcp.flags.ack==1: ports 22, 53, 80
// open; tcp.flags.reset==1: five closed).
func TestCaptureScans(t *testing.T) {
	tests := []struct {
		file                   string
		attempts, syns, ports  int
		rsts                   int
		established, refused   int
		scanner, target        string
		scannerPortsSummarised bool
	}{
		{"pcap-chrissanders/synscan.pcapng", 1994, 1994, 1000, 5, 3, 5, "172.16.0.8", "64.13.134.52", true},
		{"pcap-ppa1e/portscan.pcap", 29, 29, 29, 0, 0, 0, "", "", false},
		{"pcap-ppa1e/dosattack.pcap", 100, 100, 99, 0, 0, 0, "", "", false},
		{"pcap-stopddos/pkt.TCP.DOMINATE.syn.ecn.cwr.pcapng", 9639, 9639, 1, 239, 0, 0, "", "", false},
	}
	for _, tc := range tests {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			recs, st := readCapture(t, tc.file)
			if st.DecodeErrors != 0 {
				t.Errorf("%d decode errors", st.DecodeErrors)
			}
			outcomes := tally(recs, TypeConn, "outcome")
			total := 0
			for _, n := range outcomes {
				total += n
			}
			if total != tc.attempts {
				t.Errorf("%d connection records, tshark counts %d attempts", total, tc.attempts)
			}
			unans := tc.attempts - tc.established - tc.refused
			if outcomes[OutcomeEstablished] != tc.established || outcomes[OutcomeRefused] != tc.refused || outcomes[OutcomeUnanswered] != unans {
				t.Errorf("outcomes %v, want %d established, %d refused, %d unanswered", outcomes, tc.established, tc.refused, unans)
			}
			ports := tally(recs, TypeConn, "dport")
			if len(ports) != tc.ports {
				t.Errorf("%d distinct destination ports in records, tshark counts %d", len(ports), tc.ports)
			}
			gw := summary(t, recs, "gateway", "gw")
			if num(gw, "syn") != int64(tc.syns) || num(gw, "conn_attempts") != int64(tc.attempts) || num(gw, "rst") != int64(tc.rsts) {
				t.Errorf("gateway summary %s", gw.AppendJSON(nil))
			}
			if num(gw, "established") != int64(tc.established) || num(gw, "refused") != int64(tc.refused) || num(gw, "unanswered") != int64(unans) {
				t.Errorf("gateway outcomes %s", gw.AppendJSON(nil))
			}
			if tc.scanner != "" {
				src := summary(t, recs, "src", tc.scanner)
				dst := summary(t, recs, "dst", tc.target)
				for _, s := range []event.Event{src, dst} {
					if num(s, "distinct_ports") != int64(tc.ports) || num(s, "conn_attempts") != int64(tc.attempts) {
						t.Errorf("%s summary %s", s.Str("kind"), s.AppendJSON(nil))
					}
				}
			}
		})
	}
}

// TestCaptureICMP checks ICMP records by type and code against
//
//	tshark -r F -Y icmp -T fields -e icmp.type -e icmp.code | sort | uniq -c
//
// (for the traceroute, the first type of each line: the time-exceeded
// messages quote an echo request).
func TestCaptureICMP(t *testing.T) {
	tests := []struct {
		file  string
		types map[string]int // "type/code"
	}{
		{"pcap-chrissanders/icmp_traceroute.pcapng", map[string]int{"8/0": 27, "11/0": 24, "0/0": 3}},
		{"pcap-ppa1e/osfingerprinting.pcap", map[string]int{"0/0": 11, "8/0": 9, "8/1": 2, "13/0": 4, "13/1": 2, "14/0": 4, "15/0": 2, "17/0": 2}},
	}
	for _, tc := range tests {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			recs, _ := readCapture(t, tc.file)
			got := map[string]int{}
			for _, r := range recs {
				if r.Type == TypeICMP {
					got[fmt.Sprintf("%d/%d", num(r, "icmp_type"), num(r, "icmp_code"))]++
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.types) {
				t.Errorf("ICMP by type/code %v, tshark counts %v", got, tc.types)
			}
		})
	}
}

// TestCaptureApplication checks application-layer records:
//
//	tshark -r http_espn.pcapng -Y http.request | wc -l                        61
//	tshark -r dns_query_response.pcapng -Y dns -T fields -e dns.qry.name -e dns.qry.type -e dns.flags.response
//	                                                                     wireshark.org 1 0 / wireshark.org 1 1
//	tshark -r activeosfingerprinting.pcapng -Y 'tcp.flags.ack==0 && !(tcp.flags.syn==1 && tcp.flags.fin==0 && tcp.flags.reset==0)' \
//	    -T fields -e ip.src -e tcp.srcport -e ip.dst -e tcp.dstport -e tcp.flags.str | sort | uniq -c
//	                                                                     NULL, FIN+SYN+PSH+URG and FIN+PSH+URG, four of each, unanswered
func TestCaptureApplication(t *testing.T) {
	t.Run("http", func(t *testing.T) {
		recs, _ := readCapture(t, "pcap-chrissanders/http_espn.pcapng")
		methods := tally(recs, TypeHTTP, "method")
		if methods["GET"] != 61 || len(methods) != 1 {
			t.Errorf("HTTP requests by method %v, tshark counts 61 GETs", methods)
		}
		for _, r := range recs {
			if r.Type == TypeHTTP && (r.Str("path") == "" || r.Str("http_host") == "") {
				t.Errorf("request without path or host: %s", r.AppendJSON(nil))
			}
		}
	})
	t.Run("dns", func(t *testing.T) {
		recs, _ := readCapture(t, "pcap-chrissanders/dns_query_response.pcapng")
		dns := tally(recs, TypeDNS, "")
		if dns[""] != 1 {
			t.Fatalf("%d DNS records, want the one query with its answer", dns[""])
		}
		for _, r := range recs {
			if r.Type == TypeDNS && (r.Str("query") != "wireshark.org" || r.Str("qtype") != "A" || r.Str("rcode") != "NOERROR") {
				t.Errorf("dns record %s", r.AppendJSON(nil))
			}
		}
	})
	t.Run("probes", func(t *testing.T) {
		recs, _ := readCapture(t, "pcap-chrissanders/activeosfingerprinting.pcapng")
		flags := tally(recs, TypeProbe, "flags")
		want := map[string]int{"none": 1, "SFPU": 1, "FPU": 1}
		if fmt.Sprint(flags) != fmt.Sprint(want) {
			t.Errorf("probes by flags %v, want %v", flags, want)
		}
		for _, r := range recs {
			if r.Type == TypeProbe && (num(r, "tries") != 4 || r.Str("answer") != "none") {
				t.Errorf("probe %s: want four tries, no answer", r.AppendJSON(nil))
			}
		}
	})
}

// TestCaptureGolden compares the whole output for the port scan capture
// with testdata/portscan.golden.jsonl (ids, which are random, left out);
// go test -run CaptureGolden -update rewrites it.
func TestCaptureGolden(t *testing.T) {
	recs, _ := readCapture(t, "pcap-ppa1e/portscan.pcap")
	var got []byte
	for _, r := range recs {
		r.ID = ""
		got = r.AppendJSON(got)
		got = append(got, '\n')
	}
	golden := filepath.Join("testdata", "portscan.golden.jsonl")
	testutil.Golden(t, golden, got)
}
