package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// alertsIn decodes the events among a command's output lines, each of
// which must be a NIDS.ALERT.
func alertsIn(t *testing.T, out string) []event.Event {
	t.Helper()
	evs := decodeLines(t, out)
	for _, ev := range evs {
		if ev.Type != event.TypeNIDSAlert {
			t.Errorf("type %s", ev.Type)
		}
	}
	return evs
}

// TestIngestSuricata: an EVE file with an alert, a dns record and a
// malformed line gives the alert as an event, the line number on stderr,
// and exit status 1.
func TestIngestSuricata(t *testing.T) {
	file := filepath.Join(t.TempDir(), "eve.json")
	data := `{"timestamp":"2026-11-22T11:00:00.500000+0100","flow_id":77,"event_type":"alert","src_ip":"203.0.113.5","src_port":40000,"dest_ip":"10.0.0.3","dest_port":80,"proto":"TCP","alert":{"action":"allowed","gid":1,"signature_id":2100498,"rev":7,"signature":"GPL ATTACK_RESPONSE id check returned root","category":"Potentially Bad Traffic","severity":2},"host":"ids-1"}
{"timestamp":"2026-11-22T11:00:01.000000+0100","event_type":"dns","src_ip":"10.0.0.3","dest_ip":"10.0.0.1","dns":{"type":"query"}}
{"timestamp":"2026-11-22T11:00:02.000000+0100","event_type":"alert","src_ip":"203.0.113.5",
`
	if err := os.WriteFile(file, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := run(t, "", "ingest", "suricata", "--stdout", "--eve", file)
	if code != 1 || !strings.Contains(out, file+":3: eve: malformed JSON") || !strings.Contains(out, "skipped 1 record that is not an alert") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
	evs := alertsIn(t, out)
	if len(evs) != 1 {
		t.Fatalf("%d events, want 1:\n%s", len(evs), out)
	}
	ev := evs[0]
	if !ev.Time.Equal(time.Date(2026, 11, 22, 10, 0, 0, 500e6, time.UTC)) || ev.IP != "10.0.0.3" || ev.Host != "ids-1" || ev.Source != "suricata" ||
		ev.Str("src") != "203.0.113.5" || ev.Str("sport") != "40000" || ev.Str("dport") != "80" || ev.Str("proto") != "tcp" ||
		ev.Str("sid") != "2100498" || ev.Str("msg") != "GPL ATTACK_RESPONSE id check returned root" ||
		ev.Str("classification") != "Potentially Bad Traffic" || ev.Str("priority") != "2" || ev.Str("flow_id") != "77" {
		t.Errorf("event %s", ev.AppendJSON(nil))
	}
}

// TestIngestSnort: alert_fast lines from a file and Snort 3 alert_json
// from standard input.
func TestIngestSnort(t *testing.T) {
	file := filepath.Join(t.TempDir(), "alert_fast.txt")
	data := `11/22/2026-11:00:00.250000  [**] [1:1000001:2] SCAN probe [**] [Classification: Attempted Information Leak] [Priority: 2] {TCP} 198.51.100.7:51000 -> 10.0.0.3:22
not an alert line
11/22/2026-11:00:01.000000  [**] [1:1000002:1] ping [**] [Priority: 3] {IPV6-ICMP} 2001:db8::5:8 -> 2001:db8:1::3:0
`
	if err := os.WriteFile(file, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := run(t, "", "ingest", "snort", "--stdout", "--utc", "--fast", file)
	if code != 1 || !strings.Contains(out, file+":2: fast: no [**]") || !strings.Contains(out, "published 2 events, 1 bad lines") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
	evs := alertsIn(t, out)
	if len(evs) != 2 {
		t.Fatalf("%d events, want 2:\n%s", len(evs), out)
	}
	if ev := evs[0]; !ev.Time.Equal(time.Date(2026, 11, 22, 11, 0, 0, 250e6, time.UTC)) || ev.IP != "10.0.0.3" || ev.Source != "snort" ||
		ev.Str("src") != "198.51.100.7" || ev.Str("sport") != "51000" || ev.Str("dport") != "22" || ev.Str("sid") != "1000001" ||
		ev.Str("rev") != "2" || ev.Str("msg") != "SCAN probe" || ev.Str("classification") != "Attempted Information Leak" {
		t.Errorf("event %s", ev.AppendJSON(nil))
	}
	if ev := evs[1]; ev.IP != "2001:db8:1::3" || ev.Str("proto") != "icmpv6" || ev.Str("icmp_type") != "8" || ev.Str("classification") != "" {
		t.Errorf("event %s", ev.AppendJSON(nil))
	}

	js := `{ "timestamp" : "11/22/26-11:00:02.000000", "proto" : "UDP", "src_ap" : "192.0.2.9:5353", "dst_ap" : "10.0.0.4:53", "rule" : "1:1000003:1", "action" : "allow" }` + "\n"
	out, code = run(t, js, "ingest", "snort", "--stdout", "--utc", "--source", "snort-gw", "--json", "-")
	evs = alertsIn(t, out)
	if code != 0 || len(evs) != 1 || evs[0].IP != "10.0.0.4" || evs[0].Source != "snort-gw" || evs[0].Str("dport") != "53" || evs[0].Str("action") != "allow" {
		t.Errorf("exit %d, output:\n%s", code, out)
	}

	if out, code := run(t, "", "ingest", "snort", "--stdout", "--follow", "--fast", "-"); code != 2 || !strings.Contains(out, "--follow") {
		t.Errorf("--follow with standard input: exit %d\n%s", code, out)
	}
	if out, code := run(t, "", "ingest", "snort", "--stdout", "--fast", file, "--json", file); code != 2 || !strings.Contains(out, "give one input") {
		t.Errorf("two inputs: exit %d\n%s", code, out)
	}
}

// TestIngestSuricataFollow follows a growing EVE file across a rotation
// and stops on SIGINT with everything delivered.
func TestIngestSuricataFollow(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "eve.json")
	alert := func(sid int) string {
		b, _ := json.Marshal(map[string]any{
			"timestamp": "2026-11-22T11:00:00.000000+0000", "event_type": "alert", "src_ip": "203.0.113.5", "src_port": 1,
			"dest_ip": "10.0.0.3", "dest_port": 2, "proto": "TCP", "alert": map[string]any{"signature_id": sid, "signature": "x"},
		})
		return string(b) + "\n"
	}
	if err := os.WriteFile(file, []byte(alert(1)), 0o644); err != nil {
		t.Fatal(err)
	}
	p := start(t, "ingest", "suricata", "--stdout", "--follow", "--eve", file)
	testutil.WaitFor(t, 20*time.Second, "the first alert", func() bool { return len(alertsIn(t, p.Out.String())) == 1 })
	f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(alert(2))
	f.Close()
	testutil.WaitFor(t, 20*time.Second, "the appended alert", func() bool { return len(alertsIn(t, p.Out.String())) == 2 })
	if err := os.Rename(file, file+".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(alert(3)), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 20*time.Second, "the alert in the new file", func() bool { return len(alertsIn(t, p.Out.String())) == 3 })
	if err := p.Cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.Done:
		p.Done <- err // for the cleanup
		if err != nil {
			t.Errorf("exit: %v\n%s", err, p.Out.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("SIGINT did not stop the follower")
	}
	evs := alertsIn(t, p.Out.String())
	for i, ev := range evs {
		if ev.Str("sid") != []string{"1", "2", "3"}[i] {
			t.Errorf("event %d: sid %s", i, ev.Str("sid"))
		}
	}
	if !strings.Contains(p.Out.String(), "published 3 events, 0 bad lines") {
		t.Errorf("output:\n%s", p.Out.String())
	}
}
