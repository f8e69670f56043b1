package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestInstall is vigil install as an operator runs it: the unit goes to
// standard output and runs this very binary; --write puts it in a
// directory (mode 0644), says what to run and changes nothing else; a
// second --write is refused without --force; systemd-analyze verify
// accepts what was written.
func TestInstall(t *testing.T) {
	bin, err := filepath.EvalSymlinks(vigilBin)
	if err != nil {
		t.Fatal(err)
	}
	out, code := run(t, "", "install", "agent", "--effector")
	if code != 0 {
		t.Fatalf("vigil install agent: exit %d\n%s", code, out)
	}
	for _, want := range []string{
		"ExecStart=" + bin + " agent --config /etc/vigil/agent.yaml --spool-dir /var/lib/vigil/agent-spool --effector\n",
		"CapabilityBoundingSet=CAP_BPF CAP_PERFMON CAP_SYS_PTRACE CAP_DAC_READ_SEARCH CAP_KILL\n",
		"AmbientCapabilities=CAP_BPF CAP_PERFMON CAP_SYS_PTRACE CAP_DAC_READ_SEARCH CAP_KILL\n",
		"User=vigil\n", "NoNewPrivileges=yes\n", "ProtectSystem=strict\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the agent's unit lacks %q:\n%s", want, out)
		}
	}

	dir := t.TempDir()
	out, code = run(t, "", "install", "netsensor", "--iface", "eth1", "--write", dir, "--", "--internal", "10.0.0.0/8")
	if code != 0 {
		t.Fatalf("vigil install netsensor --write: exit %d\n%s", code, out)
	}
	unit := filepath.Join(dir, "vigil-netsensor.service")
	for _, want := range []string{"wrote " + unit, "useradd --system", "systemctl daemon-reload", "systemctl enable --now vigil-netsensor.service"} {
		if !strings.Contains(out, want) {
			t.Errorf("vigil install --write does not say %q:\n%s", want, out)
		}
	}
	fi, err := os.Stat(unit)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("%s: mode %04o, want 0644", unit, fi.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the directory holds %d files, want the unit only", len(entries))
	}
	b, _ := os.ReadFile(unit)
	if want := "ExecStart=" + bin + " netsensor --config /etc/vigil/netsensor.yaml --iface eth1 --spool-dir /var/lib/vigil/netsensor-spool --internal 10.0.0.0/8\n"; !strings.Contains(string(b), want) {
		t.Errorf("the written unit lacks %q:\n%s", want, b)
	}

	os.WriteFile(unit, []byte("# the operator's own\n"), 0o644)
	out, code = run(t, "", "install", "netsensor", "--iface", "eth1", "--write", dir)
	if code != 2 || !strings.Contains(out, "is there already: give --force") {
		t.Errorf("a second --write: exit %d, want 2 and a refusal\n%s", code, out)
	}
	if b, _ := os.ReadFile(unit); string(b) != "# the operator's own\n" {
		t.Errorf("the refused --write changed the file:\n%s", b)
	}
	if out, code = run(t, "", "install", "netsensor", "--iface", "eth1", "--write", dir, "--force"); code != 0 {
		t.Fatalf("--force: exit %d\n%s", code, out)
	}
	if b, _ := os.ReadFile(unit); !strings.Contains(string(b), "CapabilityBoundingSet=CAP_NET_RAW\n") {
		t.Errorf("--force did not write the unit:\n%s", b)
	}

	if sa, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Log("systemd-analyze is missing (Debian package systemd): the written unit is not verified")
	} else if out, err := exec.Command(sa, "verify", unit).CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) != 0 {
		t.Errorf("systemd-analyze verify %s: %v\n%s", unit, err, out)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"install", "web"}, `role "web" is not agent, netsensor or monitor`},
		{[]string{"install", "netsensor"}, "needs an interface"},
		{[]string{"install", "agent", "--responses"}, "carried out by the monitor"},
		{[]string{"install", "monitor", "--config", "relative.yaml"}, `config "relative.yaml": not an absolute, clean path`},
		{[]string{"install", "monitor", "extra"}, "go after --"},
		{[]string{"install", "monitor", "--", "--listen", "$ADDR"}, "cannot stand in a unit file"},
	} {
		if out, code := run(t, "", c.args...); code != 2 || !strings.Contains(out, c.want) {
			t.Errorf("vigil %s: exit %d, want 2 and %q\n%s", strings.Join(c.args, " "), code, c.want, out)
		}
	}
}
