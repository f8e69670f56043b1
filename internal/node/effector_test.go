package node

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/effectmsg"
	"github.com/vigil-ids/vigil/internal/testutil"
	"github.com/vigil-ids/vigil/internal/testutil/bustest"
)

// TestAgentEffectorComponent: an agent whose section turns the effector
// on answers its host's effect requests in its run group, as the sensors'
// identity, and stops with the group; off, there is no component.
func TestAgentEffectorComponent(t *testing.T) {
	a := config.Default().Agent
	if c, err := Effector(a, nil, "", 0, nil, testutil.Quiet()); c != nil || err != nil {
		t.Fatalf("effector off by default: %v %v", c, err)
	}
	s, mon, sen := bustest.StartLocal(t)
	agentConn := bustest.ConnectAs(t, s, sen, "agent")
	monitor := bustest.ConnectAs(t, s, mon, "monitor")
	a.HostID, a.Effector.Enabled = "web-1", true
	c, err := Effector(a, agentConn, s.ClientURL(), 0, nil, testutil.Quiet())
	if err != nil || c == nil {
		t.Fatalf("effector component: %v", err)
	}
	g := NewGroup(testutil.Quiet())
	g.Add(*c)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()

	child := testutil.StartChild(t, "sleep", "300")
	req := effectmsg.Encode(effectmsg.Request{Version: effectmsg.Version, ID: "d1", Host: "web-1", Action: effectmsg.ActionSignal, Signal: "KILL",
		Process: &effectmsg.Process{PID: child.PID, Start: child.Start, Exe: child.Exe}})
	var reply []byte
	testutil.WaitFor(t, 5*time.Second, "the effector's reply", func() bool {
		m, err := monitor.NC.Request(bus.EffectSubject("web-1"), req, time.Second)
		if err == nil {
			reply = m.Data
		}
		return err == nil
	})
	if !strings.Contains(string(reply), `"status":"done"`) {
		t.Errorf("reply %s", reply)
	}
	if sig, ended := child.Ended(5 * time.Second); !ended || sig != syscall.SIGKILL {
		t.Errorf("child ended %v by %v", ended, sig)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the effector did not stop with its group")
	}
}

// TestRemoteAgentIdentityAnswersEffectRequests: an identity of the
// operator's own (server.users) subscribing to its host's effect subject,
// with allow_responses, answers the monitor's requests; without it, its
// answer never arrives.
func TestRemoteAgentIdentityAnswersEffectRequests(t *testing.T) {
	cfg, err := config.Load([]byte(`monitor: {name: m}
server:
  users:
    - {user: agent-a, password: pa, publish: [vigil.obs.a], subscribe: ["_INBOX.agent-a.>", vigil.effect.a], allow_responses: true}
    - {user: agent-b, password: pb, publish: [vigil.obs.b], subscribe: ["_INBOX.agent-b.>", vigil.effect.b]}
`), "m.yml", config.Registries{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	so, local, err := ServerOptions(cfg, dir, testutil.Quiet())
	if err != nil {
		t.Fatal(err)
	}
	so.Listen = "127.0.0.1:0"
	s := bustest.Start(t, so)
	monitor := bustest.ConnectAs(t, s, bus.Identity{User: local.Name, Password: local.Password}, "monitor")
	for _, c := range []struct {
		user, pass, host string
		answers          bool
	}{{"agent-a", "pa", "a", true}, {"agent-b", "pb", "b", false}} {
		agent := bustest.ConnectAs(t, s, bus.Identity{User: c.user, Password: c.pass}, c.user)
		sub, err := agent.NC.Subscribe(bus.EffectSubject(c.host), func(m *nats.Msg) { m.Respond([]byte("ok")) })
		if err != nil {
			t.Fatal(err)
		}
		agent.NC.Flush()
		_, err = monitor.NC.Request(bus.EffectSubject(c.host), []byte("{}"), 500*time.Millisecond)
		if got := err == nil; got != c.answers {
			t.Errorf("%s answered: %v (%v), want %v", c.user, got, err, c.answers)
		}
		sub.Unsubscribe()
	}
}
