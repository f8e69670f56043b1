package effector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/vigil-ids/vigil/internal/effectmsg"
)

// unitSuffixes are the unit types a restart may name.
var unitSuffixes = []string{".service", ".socket", ".target", ".timer", ".path", ".mount"}

// unitName is a service name as a systemd unit: "apache2" is
// "apache2.service".
func unitName(s string) string {
	for _, suf := range unitSuffixes {
		if strings.HasSuffix(s, suf) {
			return s
		}
	}
	return s + ".service"
}

// validUnit says whether u is a unit name systemd could hold.
func validUnit(u string) bool {
	if len(u) > 255 || strings.HasPrefix(u, ".") || strings.HasPrefix(u, "-") {
		return false
	}
	for i := 0; i < len(u); i++ {
		c := u[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(":-_.\\@", c) >= 0) {
			return false
		}
	}
	return true
}

// restart restarts service: its configured command, else its systemd
// unit when units are turned on.
func (e *Effector) restart(ctx context.Context, service string) effectmsg.Reply {
	unit := unitName(service)
	if e.units[unit] {
		return refused("unit %s is protected", unit)
	}
	cmd, ok := e.o.Config.Restart[service]
	if !ok {
		cmd, ok = e.o.Config.Restart[strings.TrimSuffix(service, ".service")]
	}
	if !ok && (!e.o.Config.Units || e.o.Units == nil) {
		return refused("no restart command for %q, and restarting systemd units is off (agent.effector.units)", service)
	}
	if !ok && !validUnit(unit) {
		return refused("%q is not a systemd unit name", service)
	}
	if err := e.budget.take(effectmsg.ActionRestart, e.o.Clock.Now()); err != nil {
		return refused("%v", err)
	}
	if !ok {
		detail, err := e.o.Units.RestartUnit(ctx, unit)
		if err != nil {
			return failed("restarting %s: %v", unit, err)
		}
		return effectmsg.Reply{Status: effectmsg.StatusDone, Detail: detail}
	}
	return e.run(ctx, service, cmd.Argv, cmd.Timeout)
}

// run runs a restart command without a shell, within timeout, keeping at
// most OutputBytes of what it writes.
func (e *Effector) run(ctx context.Context, service string, argv []string, timeout time.Duration) effectmsg.Reply {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out := &boundedBuffer{max: e.o.Config.OutputBytes}
	c := exec.CommandContext(ctx, argv[0], argv[1:]...)
	c.Stdout, c.Stderr = out, out
	c.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
	c.Dir = "/"
	c.WaitDelay = time.Second
	// A session of its own: what the command starts (a daemon's parent
	// that signals its process group on restart, as Apache's does) never
	// signals the agent, and at the timeout the whole group is killed.
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
	start := time.Now()
	err := c.Run()
	took := time.Since(start).Round(time.Millisecond)
	rep := effectmsg.Reply{Output: out.String()}
	switch {
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		rep.Status, rep.Reason = effectmsg.StatusFailed, fmt.Sprintf("restart command of %s %q did not end within %v; killed", service, argv, timeout)
	case err != nil:
		rep.Status, rep.Reason = effectmsg.StatusFailed, fmt.Sprintf("restart command of %s %q: %v (after %v)", service, argv, err, took)
	default:
		rep.Status, rep.Detail = effectmsg.StatusDone, fmt.Sprintf("restarted %s: %q exited 0 after %v", service, argv, took)
	}
	return rep
}

// boundedBuffer keeps the first max bytes written to it and counts the
// rest.
type boundedBuffer struct {
	mu      sync.Mutex
	max     int
	buf     bytes.Buffer
	dropped int
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p) // all of it is taken, kept or not
	room := b.max - b.buf.Len()
	if room < len(p) {
		b.dropped += len(p) - max(room, 0)
		p = p[:max(room, 0)]
	}
	b.buf.Write(p)
	return n, nil
}

func (b *boundedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := strings.ToValidUTF8(b.buf.String(), "?")
	if b.dropped > 0 {
		s += fmt.Sprintf("\n[%d more bytes not kept]", b.dropped)
	}
	return s
}

// SystemdUnits restarts units through systemd's manager on the system
// D-Bus (org.freedesktop.systemd1.Manager.RestartUnit, mode "replace").
type SystemdUnits struct{}

// RestartUnit asks systemd to restart unit and says which job does it.
func (SystemdUnits) RestartUnit(ctx context.Context, unit string) (string, error) {
	conn, err := dbus.ConnectSystemBus(dbus.WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("system D-Bus: %w", err)
	}
	defer conn.Close()
	var job dbus.ObjectPath
	obj := conn.Object("org.freedesktop.systemd1", "/org/freedesktop/systemd1")
	if err := obj.CallWithContext(ctx, "org.freedesktop.systemd1.Manager.RestartUnit", 0, unit, "replace").Store(&job); err != nil {
		return "", err
	}
	return fmt.Sprintf("restart of %s queued as systemd job %s", unit, job), nil
}
