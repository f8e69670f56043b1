package nids

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// sharedDir finds ../shared/datasets/suricata-verify-eve beside the
// repository, or skips the test: a fresh clone has no ../shared.
func sharedDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("no go.mod above the test's directory")
		}
		dir = parent
	}
	data := filepath.Join(filepath.Dir(dir), "shared", "datasets", "suricata-verify-eve")
	if _, err := os.Stat(data); err != nil {
		t.Skipf("the shared Suricata data set is absent (%v): it lies beside the repository, not in a fresh clone", err)
	}
	return data
}

// testmyids is the alert both alert-testmyids tests raise, in both forms:
// the HTTP response of testmyids.com carrying "uid=0(root)".
func testmyids(ts string, sid int64, flowID int64, source string) want {
	attrs := map[string]any{
		"src": "82.165.177.154", "dst": "10.16.1.11", "sport": int64(80), "dport": int64(54186), "proto": "tcp",
		"gid": int64(1), "sid": sid, "rev": int64(7), "msg": "GPL ATTACK_RESPONSE id check returned root",
		"classification": "Potentially Bad Traffic", "priority": int64(2),
	}
	if flowID != 0 { // EVE only
		attrs["flow_id"] = flowID
		attrs["action"] = "allowed"
	}
	return want{time: at(ts), ip: "10.16.1.11", source: source, attrs: attrs}
}

func dnp3(ts string) want {
	return want{time: at(ts), ip: "127.0.0.1", source: "suricata", attrs: map[string]any{
		"src": "127.0.0.1", "dst": "127.0.0.1", "sport": int64(20000), "dport": int64(59602), "proto": "tcp",
		"gid": int64(1), "sid": int64(4), "rev": int64(1), "msg": "DNP3 Data match", "priority": int64(3),
		"action": "allowed", "flow_id": int64(634711522427892),
	}}
}

// TestSuricataVerify reads every eve.json and fast.log of the
// suricata-verify samples: each alert becomes an event with every field
// as the file has it, and every other record is skipped as not an alert.
// Suricata wrote fast.log in its host's zone, UTC (eve.json's +0000).
func TestSuricataVerify(t *testing.T) {
	root := sharedDir(t)
	expect := map[string]struct {
		alerts  []want
		skipped int
	}{
		"alert-testmyids/expected/eve.json":                 {[]want{testmyids("2016-07-13T22:42:07.573103Z", 2100498, 1842518484266121, "suricata")}, 0},
		"alert-testmyids/expected/fast.log":                 {[]want{testmyids("2016-07-13T22:42:07.573103Z", 2100498, 0, "snort")}, 0},
		"alert-testmyids-not-established/expected/eve.json": {[]want{testmyids("2016-07-13T22:42:07.388030Z", 2, 1842518484315070, "suricata")}, 0},
		"alert-testmyids-not-established/expected/fast.log": {[]want{testmyids("2016-07-13T22:42:07.388030Z", 2, 0, "snort")}, 0},
		"dnp3-dnp3_data-alert/expected/eve.json": {[]want{
			dnp3("2015-07-14T17:46:10.214640Z"), dnp3("2015-07-14T17:46:11.685971Z"),
			dnp3("2015-07-14T17:46:12.685991Z"), dnp3("2015-07-14T17:46:13.630138Z"),
		}, 0},
		"tls-fingerprint-alert/expected/eve.json": {[]want{{
			time: at("2016-09-19T15:13:55.657253Z"), ip: "10.16.1.11", source: "suricata", attrs: map[string]any{
				"src": "24.244.4.23", "dst": "10.16.1.11", "sport": int64(443), "dport": int64(54684), "proto": "tcp",
				"gid": int64(1), "sid": int64(1), "rev": int64(1), "msg": "TLS FINGERPRINT TEST", "priority": int64(3),
				"action": "allowed", "flow_id": int64(1880489165303449),
			},
		}}, 1}, // and its tls record
		"eve-dns/expected/eve.json":             {nil, 9},
		"single-dns-request/expected/eve.json":  {nil, 2},
		"output-eve-fileinfo/expected/eve.json": {nil, 1},
	}
	var files []string
	for _, pattern := range []string{"*/expected/eve.json", "*/expected/fast.log"} {
		m, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatalf("no eve.json or fast.log under %s", root)
	}
	p := parser(t, Options{Location: time.UTC})
	seen := 0
	for _, file := range files {
		rel, _ := filepath.Rel(root, file)
		t.Run(rel, func(t *testing.T) {
			exp, ok := expect[filepath.ToSlash(rel)]
			if !ok {
				t.Fatalf("no expectations for %s: add them", rel)
			}
			seen++
			parse := p.ParseEVE
			if filepath.Base(file) == "fast.log" {
				parse = p.ParseFast
			}
			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			lr := event.NewLineReader(f, MaxLineBytes)
			var got []event.Event
			skipped := 0
			for {
				line, err := lr.Next()
				if err != nil {
					break
				}
				ev, err := parse(line)
				switch {
				case errors.Is(err, ErrNotAlert):
					skipped++
				case err != nil:
					t.Errorf("line %d: %v", lr.Line(), err)
				default:
					got = append(got, ev)
				}
			}
			if len(got) != len(exp.alerts) || skipped != exp.skipped {
				t.Fatalf("%d alerts and %d other records, want %d and %d", len(got), skipped, len(exp.alerts), exp.skipped)
			}
			for i := range got {
				check(t, got[i], exp.alerts[i])
			}
		})
	}
	if seen != len(expect) {
		t.Errorf("read %d of the %d files with expectations", seen, len(expect))
	}
}
