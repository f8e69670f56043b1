package faults

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/testutil"
	"github.com/vigil-ids/vigil/internal/testutil/vigilproc"
)

// TestLocalAttacker plays a local process against `vigil up`'s bus: it
// cannot connect anonymously or by guessing, cannot read the identity
// files as another user, and with the sensors' identity it cannot delete,
// purge or read the streams, nor forge reports or control requests; the
// monitor stays healthy and keeps what it had.
func TestLocalAttacker(t *testing.T) {
	httpPort, busPort := testutil.FreePort(t), testutil.FreePort(t)
	data := filepath.Join(t.TempDir(), "data")
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	busURL := fmt.Sprintf("nats://127.0.0.1:%d", busPort)
	vigilproc.Start(t, vigil, "up", "--no-agent", "--listen", fmt.Sprintf("127.0.0.1:%d", httpPort), "--bus-listen", fmt.Sprintf("127.0.0.1:%d", busPort), "--data", data)
	vigilproc.WaitHTTP(t, base+"/healthz", 15*time.Second)
	ctx := context.Background()

	// The identity files: private to the user vigil runs as.
	idDir := filepath.Join(data, "bus")
	for _, f := range []string{idDir, filepath.Join(idDir, bus.MonitorIdentityFile), filepath.Join(idDir, bus.SensorIdentityFile)} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %04o: others may read it", f, fi.Mode().Perm())
		}
	}

	// Anonymous, and guessing.
	var anonErr error
	testutil.WaitFor(t, 10*time.Second, "the bus to answer", func() bool {
		nc, err := nats.Connect(busURL, nats.Timeout(2*time.Second))
		if err == nil {
			nc.Close()
			t.Fatal("an anonymous client connected to the bus")
		}
		anonErr = err
		return strings.Contains(strings.ToLower(err.Error()), "authorization")
	})
	if nc, err := nats.Connect(busURL, nats.UserInfo(bus.MonitorUser, "password"), nats.Timeout(2*time.Second)); err == nil {
		nc.Close()
		t.Fatal("a guessed password connected to the bus")
	}

	// Another local user cannot read the identities.
	unreadable := "not tried (needs root and setpriv)"
	if os.Geteuid() == 0 {
		if setpriv, err := exec.LookPath("setpriv"); err == nil {
			out, err := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "cat", filepath.Join(idDir, bus.SensorIdentityFile)).CombinedOutput()
			if err == nil {
				t.Fatalf("uid 65534 read the sensor identity: %s", out)
			}
			unreadable = "refused: " + strings.TrimSpace(string(out))
		}
	}

	// The sensors' identity, as a process that stole it would use it.
	sen, err := bus.ReadIdentity(filepath.Join(idDir, bus.SensorIdentityFile))
	if err != nil {
		t.Fatal(err)
	}
	mon, err := bus.ReadIdentity(filepath.Join(idDir, bus.MonitorIdentityFile))
	if err != nil {
		t.Fatal(err)
	}
	admin, err := bus.Connect(ctx, bus.ClientOptions{URL: busURL, User: mon.User, Password: mon.Password, Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	post(t, base, `{"type":"SYS.CPU","host":"before-attack","source":"faults","attrs":{"cpu_pct":1}}`)
	obsBefore := streamMsgs(t, ctx, admin, bus.StreamObs)

	var mu sync.Mutex
	var refusals []string
	nc, err := nats.Connect(busURL, nats.UserInfo(sen.User, sen.Password), nats.CustomInboxPrefix(bus.InboxPrefix(sen.User)),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			mu.Lock()
			refusals = append(refusals, err.Error())
			mu.Unlock()
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	api := []string{
		"$JS.API.STREAM.DELETE." + bus.StreamObs,
		"$JS.API.STREAM.PURGE." + bus.StreamObs,
		"$JS.API.STREAM.DELETE." + bus.StreamReports,
		"$JS.API.STREAM.MSG.GET." + bus.StreamObs,
		"$JS.API.CONSUMER.DELETE." + bus.StreamObs + ".local_observations",
	}
	answered := 0
	for _, subj := range api {
		if _, err := nc.Request(subj, []byte(`{"seq":1}`), 500*time.Millisecond); err == nil {
			answered++
			t.Errorf("%s answered the sensors' identity", subj)
		}
	}
	forged := []string{bus.PrefixReport + "svc", bus.CtlSubject("svc", "local")}
	for _, subj := range forged {
		if err := nc.Publish(subj, []byte(`{"id":"forged","type":"REPORT"}`)); err != nil {
			t.Fatal(err)
		}
	}
	var read []string
	for _, subj := range []string{bus.AllObs, "_INBOX.>"} {
		if _, err := nc.Subscribe(subj, func(m *nats.Msg) { mu.Lock(); read = append(read, m.Subject); mu.Unlock() }); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	post(t, base, `{"type":"SYS.CPU","host":"after-attack","source":"faults","attrs":{"cpu_pct":1}}`)
	testutil.WaitFor(t, 5*time.Second, "the server's refusals", func() bool {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, r := range refusals {
			if strings.Contains(r, "ermissions") {
				n++
			}
		}
		return n >= len(api)+len(forged)+2
	})
	mu.Lock()
	nRefused, nRead := len(refusals), len(read)
	mu.Unlock()
	if nRead > 0 {
		t.Errorf("the sensors' identity read %d messages", nRead)
	}
	obsAfter := streamMsgs(t, ctx, admin, bus.StreamObs)
	if obsAfter < obsBefore+1 {
		t.Errorf("the observation stream held %d messages before and %d after", obsBefore, obsAfter)
	}
	if code, body := get(t, base+"/healthz"); code != http.StatusOK || !strings.Contains(body, `"ok"`) {
		t.Errorf("/healthz after the attack: %d %s", code, body)
	}
	testutil.WaitFor(t, 10*time.Second, "the event posted after the attack stored", func() bool {
		code, body := get(t, base+"/api/events?host=after-attack")
		return code == http.StatusOK && strings.Contains(body, "after-attack")
	})
	if code, body := get(t, base+"/api/reports?limit=100"); code != http.StatusOK || strings.Contains(body, "forged") {
		t.Errorf("a forged report was stored: %d %s", code, body)
	}
	figure(t, "anonymous client: %v; guessed password refused; another user reading the identity: %s; with the sensors' identity: %d of %d JetStream API requests (delete, purge, read, consumer delete) answered, %d forged reports/control requests and 2 subscriptions refused (%d refusals in all), 0 messages read; VIGIL_OBS kept its %d messages and took new ones (%d); the monitor stayed healthy",
		strings.TrimPrefix(anonErr.Error(), "nats: "), unreadable, answered, len(api), len(forged), nRefused, obsBefore, obsAfter)
}

func streamMsgs(t *testing.T, ctx context.Context, c *bus.Conn, name string) uint64 {
	t.Helper()
	var n uint64
	testutil.WaitFor(t, 5*time.Second, "stream "+name, func() bool {
		s, err := c.JS.Stream(ctx, name)
		if err != nil {
			return false
		}
		n = s.CachedInfo().State.Msgs
		return true
	})
	return n
}

func post(t *testing.T, base, line string) {
	t.Helper()
	resp, err := http.Post(base+"/api/events", "application/x-ndjson", strings.NewReader(line+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST /api/events: %d %s", resp.StatusCode, b)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
