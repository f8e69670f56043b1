package faults

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/testutil"
	"github.com/vigil-ids/vigil/internal/testutil/vigilproc"
)

// sensorAccount is the line a host sensor logs when it stops.
type sensorAccount struct {
	Observations, Delivered, Dropped, LeftInSpool int
}

// stopAccount finds the sensor's account in its JSON log.
func stopAccount(t *testing.T, log string) sensorAccount {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l struct {
			Msg          string `json:"msg"`
			Observations int    `json:"observations"`
			Delivered    int    `json:"delivered"`
			Dropped      int    `json:"dropped"`
			Left         int    `json:"left_in_spool"`
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "host sensor stopped" {
			return sensorAccount{l.Observations, l.Delivered, l.Dropped, l.Left}
		}
	}
	t.Fatalf("the agent logged no account when it stopped:\n%s", log)
	return sensorAccount{}
}

// TestBusOutage kills `vigil up`, and with it the bus, while a separate
// `vigil agent` observes short-lived processes, and starts it again 5 s
// later: what the agent observed while the bus was away waits in its
// spool, and in the end the store holds every observation the agent
// made, once.
func TestBusOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("about 20 s: the bus is away for 5 s")
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc on this machine")
	}
	httpPort, busPort := testutil.FreePort(t), testutil.FreePort(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	upArgs := []string{"up", "--no-agent", "--listen", fmt.Sprintf("127.0.0.1:%d", httpPort), "--bus-listen", fmt.Sprintf("127.0.0.1:%d", busPort), "--data", data}
	up := vigilproc.Start(t, vigil, upArgs...)
	vigilproc.WaitHTTP(t, base+"/healthz", 15*time.Second)

	const hostID = "outage-host"
	agent := vigilproc.Start(t, vigil, "agent", "--bus", fmt.Sprintf("nats://127.0.0.1:%d", busPort),
		"--bus-identity", filepath.Join(data, "bus", "sensor.json"), "--spool-dir", filepath.Join(dir, "spool"),
		"--host-id", hostID, "--procs", "sleep", "--interval", "100ms", "--window", "2", "--log-format", "json")

	// Something to observe: a short-lived process every 100 ms.
	var spawned atomic.Int64
	stopSpawning := make(chan struct{})
	spawnerDone := make(chan struct{})
	go func() {
		defer close(spawnerDone)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopSpawning:
				return
			case <-tick.C:
				c := exec.Command("sleep", "0.4")
				if c.Start() == nil {
					spawned.Add(1)
					go func() { _ = c.Wait() }()
				}
			}
		}
	}()
	defer func() {
		select {
		case <-stopSpawning:
		default:
			close(stopSpawning)
		}
		<-spawnerDone
	}()

	db := filepath.Join(data, "vigil.db")
	testutil.WaitFor(t, 15*time.Second, "the agent's first observations stored", func() bool {
		return vigilproc.CountRows(t, db, "host = '"+hostID+"'") > 0
	})
	if _, err := up.End(t, syscall.SIGKILL, 10*time.Second); err == nil {
		t.Fatal("vigil up survived SIGKILL")
	}
	awayFrom := time.Now()
	time.Sleep(5 * time.Second)
	awayTo := time.Now()
	up = vigilproc.Start(t, vigil, upArgs...)
	vigilproc.WaitHTTP(t, base+"/healthz", 15*time.Second)
	back := time.Now()
	var replayed time.Duration
	testutil.WaitFor(t, 20*time.Second, "an observation made while the bus was away stored", func() bool {
		replayed = time.Since(back)
		return storedBetween(t, db, hostID, awayFrom, awayTo) > 0
	})
	time.Sleep(time.Second)
	close(stopSpawning)
	<-spawnerDone

	if _, err := agent.Stop(t, 15*time.Second); err != nil {
		t.Fatalf("vigil agent exit: %v", err)
	}
	acct := stopAccount(t, agent.Out.String())
	if acct.Dropped != 0 || acct.LeftInSpool != 0 || acct.Delivered != acct.Observations {
		t.Fatalf("the agent's account: %+v", acct)
	}
	testutil.WaitFor(t, 30*time.Second, "every delivered observation stored", func() bool {
		return vigilproc.CountRows(t, db, "host = '"+hostID+"'") >= acct.Delivered
	})
	if _, err := up.Stop(t, 10*time.Second); err != nil {
		t.Errorf("vigil up exit: %v", err)
	}
	stored := vigilproc.CountRows(t, db, "host = '"+hostID+"'") // also checks the ids are distinct
	if stored != acct.Observations {
		t.Fatalf("store holds %d observations of the agent, which made %d", stored, acct.Observations)
	}
	during := storedBetween(t, db, hostID, awayFrom, awayTo)
	if during == 0 {
		t.Fatal("nothing observed while the bus was away was stored; the test proves little")
	}
	figure(t, "bus away %v while the agent sampled every 100 ms (%d processes started): %d observations made, %d of them while the bus was away; %d delivered, %d stored, once each, 0 lost; the first of the spooled ones stored %v after the restarted bus answered",
		awayTo.Sub(awayFrom).Round(100*time.Millisecond), spawned.Load(), acct.Observations, during, acct.Delivered, stored, replayed.Round(10*time.Millisecond))
}

// storedBetween counts a host's stored events observed in [from, to].
func storedBetween(t *testing.T, path, host string, from, to time.Time) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM events WHERE host = ? AND time BETWEEN ? AND ?`, host, from.UnixNano(), to.UnixNano()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
