package bus

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/vigil-ids/vigil/internal/event"
)

// TestLocalIdentities: the embedded server's identities are made once,
// private to this user, and read back the same.
func TestLocalIdentities(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bus")
	mon, sen, err := LocalIdentities(dir)
	if err != nil {
		t.Fatal(err)
	}
	if mon.User != MonitorUser || sen.User != SensorUser || len(mon.Password) < 32 || len(sen.Password) < 32 || mon.Password == sen.Password {
		t.Fatalf("identities %q/%d chars, %q/%d chars", mon.User, len(mon.Password), sen.User, len(sen.Password))
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("directory: %v %v", fi.Mode(), err)
	}
	for _, f := range []string{MonitorIdentityFile, SensorIdentityFile} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, fi.Mode(), err)
		}
	}
	mon2, sen2, err := LocalIdentities(dir)
	if err != nil || mon2 != mon || sen2 != sen {
		t.Fatalf("second start made other identities (%v)", err)
	}
	if got, err := ReadIdentity(filepath.Join(dir, SensorIdentityFile)); err != nil || got != sen {
		t.Fatalf("ReadIdentity: %v", err)
	}

	t.Run("a file others may read is refused", func(t *testing.T) {
		if err := os.Chmod(filepath.Join(dir, MonitorIdentityFile), 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(filepath.Join(dir, MonitorIdentityFile), 0o600)
		_, _, err := LocalIdentities(dir)
		if err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a damaged file is named, its content is not", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.json")
		os.WriteFile(bad, []byte(`{"user":"vigil-sensor","password":"s3cret-value"`), 0o600)
		_, err := ReadIdentity(bad)
		if err == nil || !strings.Contains(err.Error(), bad) || strings.Contains(err.Error(), "s3cret") {
			t.Fatalf("got %v", err)
		}
		os.WriteFile(bad, []byte(`{"user":"vigil-sensor","password":["s3cret-value"]}`), 0o600)
		if _, err := ReadIdentity(bad); err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Fatalf("got %v", err)
		}
		os.WriteFile(bad, []byte(`{"user":"vigil-sensor"}`), 0o600)
		if _, err := ReadIdentity(bad); err == nil {
			t.Fatal("an identity without a password was read")
		}
	})
}

// sensorClient connects with the sensor identity as a raw NATS client,
// collecting the server's asynchronous refusals.
type sensorClient struct {
	nc   *nats.Conn
	mu   sync.Mutex
	errs []string
}

func (s *sensorClient) refused(what string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.errs {
		if strings.Contains(e, "ermissions") && strings.Contains(e, what) {
			return true
		}
	}
	return false
}

// TestLocalBusIsClosed: on a server with the monitor's and the sensors'
// identities, an anonymous client cannot connect, and the sensor identity
// may publish observations but not administer, purge or read streams, read
// the monitor's deliveries, nor publish reports or control requests.
func TestLocalBusIsClosed(t *testing.T) {
	mon, sen, err := LocalIdentities(filepath.Join(t.TempDir(), "bus"))
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, ServerOptions{Users: []User{MonitorIdentity(mon), SensorIdentity(sen)}})
	ctx := context.Background()

	if nc, err := nats.Connect(s.ClientURL(), nats.Timeout(2*time.Second)); err == nil {
		nc.Close()
		t.Fatal("an anonymous client connected")
	} else if !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Fatalf("anonymous client: %v", err)
	}
	if nc, err := nats.Connect(s.ClientURL(), nats.UserInfo(SensorUser, "guess"), nats.Timeout(2*time.Second)); err == nil {
		nc.Close()
		t.Fatal("a wrong password connected")
	}

	admin := connect(t, ClientOptions{URL: s.ClientURL(), User: mon.User, Password: mon.Password})
	if err := admin.EnsureStreams(ctx, StreamLimits{}); err != nil {
		t.Fatal(err)
	}
	sensor := connect(t, ClientOptions{URL: s.ClientURL(), User: sen.User, Password: sen.Password})
	if n, err := sensor.PublishEvents(ctx, makeEvents(5, "h1")); err != nil || n != 5 {
		t.Fatalf("the sensor identity could not publish observations: %d %v", n, err)
	}
	if n, err := sensor.PublishCountVectors(ctx, []event.CountVector{{Host: "h1", PID: 1, Process: "x", Start: time.Now().UTC(), Interval: time.Second, Counts: []event.SyscallCount{{Nr: 0, Count: 1}}}}); err != nil || n != 1 {
		t.Fatalf("the sensor identity could not publish count vectors: %d %v", n, err)
	}

	sc := &sensorClient{}
	sc.nc, err = nats.Connect(s.ClientURL(), nats.UserInfo(sen.User, sen.Password), nats.CustomInboxPrefix(InboxPrefix(sen.User)),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			sc.mu.Lock()
			sc.errs = append(sc.errs, err.Error())
			sc.mu.Unlock()
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer sc.nc.Close()
	for _, subj := range []string{
		"$JS.API.STREAM.DELETE." + StreamObs,
		"$JS.API.STREAM.PURGE." + StreamObs,
		"$JS.API.STREAM.INFO." + StreamObs,
		"$JS.API.STREAM.MSG.GET." + StreamObs,
		"$JS.API.CONSUMER.CREATE." + StreamObs,
	} {
		if _, err := sc.nc.Request(subj, []byte(`{}`), 300*time.Millisecond); err == nil {
			t.Errorf("%s answered the sensor identity", subj)
		}
	}
	for _, subj := range []string{PrefixReport + "m", CtlSubject("m", "p")} {
		if err := sc.nc.Publish(subj, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	var gotMu sync.Mutex
	for _, subj := range []string{AllObs, "_INBOX.>", ">"} {
		if _, err := sc.nc.Subscribe(subj, func(m *nats.Msg) { gotMu.Lock(); got = append(got, m.Subject); gotMu.Unlock() }); err != nil {
			t.Fatal(err)
		}
	}
	if err := sc.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// What the refused subscriptions would have seen: observations, and a
	// reply to the monitor.
	if _, err := admin.PublishEvents(ctx, makeEvents(2, "other-host")); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.JS.Stream(ctx, StreamObs); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for !(sc.refused(`"$JS.API.STREAM.DELETE.`) && sc.refused(PrefixReport) && sc.refused(PrefixCtl) && sc.refused(`Subscription to ">"`)) {
		if time.Now().After(deadline) {
			sc.mu.Lock()
			t.Fatalf("the server did not refuse everything it should have; refusals: %q", sc.errs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	gotMu.Lock()
	if len(got) > 0 {
		t.Errorf("the sensor identity read %q", got)
	}
	gotMu.Unlock()

	st, err := admin.JS.Stream(ctx, StreamObs)
	if err != nil {
		t.Fatalf("the observation stream is gone: %v", err)
	}
	if n := st.CachedInfo().State.Msgs; n != 7 {
		t.Errorf("the observation stream holds %d messages, want 7", n)
	}
}

// TestEffectSubjectsAnswerOnlyMonitors: the sensors' identity takes the
// effector requests of its host and answers them, but a request it sends
// itself (to impersonate a monitor) never reaches the effector.
func TestEffectSubjectsAnswerOnlyMonitors(t *testing.T) {
	mon, sen, err := LocalIdentities(filepath.Join(t.TempDir(), "bus"))
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, ServerOptions{Users: []User{MonitorIdentity(mon), SensorIdentity(sen)}})
	monitor := connect(t, ClientOptions{URL: s.ClientURL(), User: mon.User, Password: mon.Password})
	agent := connect(t, ClientOptions{URL: s.ClientURL(), User: sen.User, Password: sen.Password})
	impostor := connect(t, ClientOptions{URL: s.ClientURL(), User: sen.User, Password: sen.Password})

	var mu sync.Mutex
	var heard []string
	sub, err := agent.NC.Subscribe(EffectSubject("web 1"), func(m *nats.Msg) {
		mu.Lock()
		heard = append(heard, string(m.Data))
		mu.Unlock()
		if err := m.Respond([]byte("answered " + string(m.Data))); err != nil {
			t.Errorf("answering: %v", err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := agent.NC.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := EffectSubject("web 1"); got != "vigil.effect.web_1" {
		t.Errorf("EffectSubject = %q", got)
	}

	reply, err := monitor.NC.Request(EffectSubject("web 1"), []byte("from the monitor"), 2*time.Second)
	if err != nil {
		t.Fatalf("the monitor's request went unanswered: %v", err)
	}
	if string(reply.Data) != "answered from the monitor" {
		t.Errorf("reply %q", reply.Data)
	}
	if _, err := impostor.NC.Request(EffectSubject("web 1"), []byte("from a sensor"), 500*time.Millisecond); err == nil {
		t.Error("a request from the sensors' identity was answered")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(heard) != 1 || heard[0] != "from the monitor" {
		t.Errorf("the effector heard %q, want only the monitor's request", heard)
	}
}

// TestCtlSubjectsOnlyMonitors: a monitor answers configuration requests on
// its control subject and another monitor's identity reaches it; the
// sensors' identity can neither ask nor listen there.
func TestCtlSubjectsOnlyMonitors(t *testing.T) {
	mon, sen, err := LocalIdentities(filepath.Join(t.TempDir(), "bus"))
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, ServerOptions{Users: []User{MonitorIdentity(mon), SensorIdentity(sen)}})
	svc := connect(t, ClientOptions{URL: s.ClientURL(), User: mon.User, Password: mon.Password})
	parent := connect(t, ClientOptions{URL: s.ClientURL(), User: mon.User, Password: mon.Password})
	sensor := connect(t, ClientOptions{URL: s.ClientURL(), User: sen.User, Password: sen.Password})
	if got := CtlSubject("svc web", "dom 1"); got != "vigil.ctl.svc_web.dom_1" {
		t.Errorf("CtlSubject = %q", got)
	}
	if got := CtlListenSubject("svc web"); got != "vigil.ctl.svc_web.*" {
		t.Errorf("CtlListenSubject = %q", got)
	}
	for subj, want := range map[string]string{"vigil.ctl.svc_web.dom_1": "dom_1", "vigil.ctl.svc_web": "", "vigil.ctl.a.b.c": "", "vigil.probe.a.b": "", "vigil.ctl..b": ""} {
		if got, ok := SubjectSender(subj, PrefixCtl); got != want || ok != (want != "") {
			t.Errorf("SubjectSender(%q) = %q, %v; want %q", subj, got, ok, want)
		}
	}
	var mu sync.Mutex
	var heard []string
	sub, err := svc.NC.Subscribe(CtlListenSubject("svc web"), func(m *nats.Msg) {
		mu.Lock()
		heard = append(heard, string(m.Data))
		mu.Unlock()
		_ = m.Respond([]byte("ok"))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := svc.NC.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := parent.NC.Request(CtlSubject("svc web", "dom"), []byte("from the parent"), 2*time.Second); err != nil {
		t.Fatalf("a monitor's request went unanswered: %v", err)
	}
	if _, err := sensor.NC.Request(CtlSubject("svc web", "dom"), []byte("from a sensor"), 500*time.Millisecond); err == nil {
		t.Error("a request from the sensors' identity was answered")
	}
	// Nor may the sensors' identity listen there (to answer in a
	// monitor's stead).
	if _, err := sensor.NC.Subscribe(CtlListenSubject("svc web"), func(*nats.Msg) {}); err == nil {
		_ = sensor.NC.Flush()
		if err := sensor.NC.LastError(); !errors.Is(err, nats.ErrPermissionViolation) {
			t.Errorf("the sensors' identity subscribed to the control subject (last error %v)", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(heard) != 1 || heard[0] != "from the parent" {
		t.Errorf("the monitor heard %q, want only its parent's request", heard)
	}
}

// TestAgentCtlSubjectsAnswerOnlyMonitors: the sensors' identity takes the
// configuration requests of its host agent and answers them, but a
// request it sends itself never reaches the agent.
func TestAgentCtlSubjectsAnswerOnlyMonitors(t *testing.T) {
	mon, sen, err := LocalIdentities(filepath.Join(t.TempDir(), "bus"))
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, ServerOptions{Users: []User{MonitorIdentity(mon), SensorIdentity(sen)}})
	monitor := connect(t, ClientOptions{URL: s.ClientURL(), User: mon.User, Password: mon.Password})
	agent := connect(t, ClientOptions{URL: s.ClientURL(), User: sen.User, Password: sen.Password})
	impostor := connect(t, ClientOptions{URL: s.ClientURL(), User: sen.User, Password: sen.Password})
	if got := AgentCtlSubject("web 1"); got != "vigil.agentctl.web_1" {
		t.Errorf("AgentCtlSubject = %q", got)
	}
	var mu sync.Mutex
	var heard []string
	sub, err := agent.NC.Subscribe(AgentCtlSubject("web 1"), func(m *nats.Msg) {
		mu.Lock()
		heard = append(heard, string(m.Data))
		mu.Unlock()
		_ = m.Respond([]byte("ok"))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := agent.NC.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := agent.NC.LastError(); err != nil {
		t.Fatalf("the sensors' identity may not take agent requests: %v", err)
	}
	if _, err := monitor.NC.Request(AgentCtlSubject("web 1"), []byte("from the monitor"), 2*time.Second); err != nil {
		t.Fatalf("the monitor's request went unanswered: %v", err)
	}
	if _, err := impostor.NC.Request(AgentCtlSubject("web 1"), []byte("from a sensor"), 500*time.Millisecond); err == nil {
		t.Error("a request from the sensors' identity was answered")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(heard) != 1 || heard[0] != "from the monitor" {
		t.Errorf("the agent heard %q, want only the monitor's request", heard)
	}
}
