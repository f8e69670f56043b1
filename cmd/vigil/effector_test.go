package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/effectmsg"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// TestEffectorAcceptance: `vigil up --agent-effector` and a `vigil agent
// --effector` connected with the sensors' identity answer a monitor's
// requests over the bus: a real process named exactly is killed; the bus
// server's process and each agent's own are refused; the metrics count it.
func TestEffectorAcceptance(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the effector's protections are only meaningful where it could signal anything")
	}
	httpPort, busPort := testutil.FreePort(t), testutil.FreePort(t)
	data := t.TempDir()
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	busURL := fmt.Sprintf("nats://127.0.0.1:%d", busPort)
	// The agent starts before the bus: its effector takes requests once
	// the bus is there.
	if _, _, err := bus.LocalIdentities(filepath.Join(data, "bus")); err != nil {
		t.Fatal(err)
	}
	agent := start(t, "agent", "--effector", "--bus", busURL, "--bus-identity", filepath.Join(data, "bus", "sensor.json"),
		"--host-id", "remote-1", "--spool-dir", filepath.Join(t.TempDir(), "spool"), "--interval", "1s")
	time.Sleep(500 * time.Millisecond)
	up := start(t, "up", "--listen", fmt.Sprintf("127.0.0.1:%d", httpPort), "--bus-listen", fmt.Sprintf("127.0.0.1:%d", busPort), "--data", data,
		"--agent-interval", "1s", "--agent-host-id", "this-machine", "--agent-effector")
	waitHTTP(t, base+"/healthz", 5*time.Second)

	id, err := bus.ReadIdentity(filepath.Join(data, "bus", "monitor.json"))
	if err != nil {
		t.Fatal(err)
	}
	mon, err := bus.Connect(context.Background(), bus.ClientOptions{URL: busURL, User: id.User, Password: id.Password, Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Close()
	n := 0
	ask := func(host, sig string, p effectmsg.Process) effectmsg.Reply {
		t.Helper()
		n++
		req := effectmsg.Encode(effectmsg.Request{Version: 1, ID: fmt.Sprintf("t%d", n), Host: host, Monitor: "test", Action: effectmsg.ActionSignal, Signal: sig, Process: &p})
		var data []byte
		testutil.WaitFor(t, 10*time.Second, "an answer from the effector of "+host, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			data, err = mon.Request(ctx, bus.EffectSubject(host), req)
			return err == nil
		})
		rep, err := effectmsg.DecodeReply(data)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	named := func(pid int) effectmsg.Process {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		var start uint64
		fmt.Sscan(f[22-3], &start)
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil {
			exe = "/sbin/init" // pid 1's may be unreadable in a container
		}
		return effectmsg.Process{PID: pid, Start: start, Exe: exe}
	}

	for _, host := range []string{"remote-1", "this-machine"} {
		child := testutil.StartChild(t, "sleep", "300")
		if rep := ask(host, "KILL", effectmsg.Process{PID: child.PID, Start: child.Start, Exe: child.Exe}); rep.Status != effectmsg.StatusDone {
			t.Errorf("%s: %+v", host, rep)
		}
		if sig, ended := child.Ended(5 * time.Second); !ended || sig != syscall.SIGKILL {
			t.Errorf("%s: child ended %v by %v", host, ended, sig)
		}
	}
	upPID, agentPID := up.Cmd.Process.Pid, agent.Cmd.Process.Pid
	for _, c := range []struct {
		host string
		pid  int
		says string
	}{
		{"remote-1", upPID, "the bus server's process"},
		{"remote-1", agentPID, "the agent's own process"},
		{"this-machine", upPID, "the agent's own process"},
		{"remote-1", 1, "pid 1"},
	} {
		if rep := ask(c.host, "KILL", named(c.pid)); rep.Status != effectmsg.StatusRefused || !strings.Contains(rep.Reason, c.says) {
			t.Errorf("KILL of pid %d asked of %s: %+v, want refused as %s", c.pid, c.host, rep, c.says)
		}
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	metrics := string(body)
	if !strings.Contains(metrics, `vigil_effector_requests_total{action="signal",outcome="done"} 1`) ||
		!strings.Contains(metrics, `vigil_effector_requests_total{action="signal",outcome="refused"} 1`) {
		t.Errorf("metrics lack the effector's counts:\n%s", grepLines(metrics, "vigil_effector"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
