//go:build linux && amd64

package hostevents

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
)

// run runs a program of the machine's (found on PATH) and returns its pid.
func run(t *testing.T, dir string, name string, args ...string) int {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
	return cmd.Process.Pid
}

// Reading /etc/shadow is a FILE.OPEN with the reader's context.
func TestReadingShadowIsFileOpen(t *testing.T) {
	if _, err := os.Stat("/etc/shadow"); err != nil {
		t.Skip("skipped: this machine has no /etc/shadow")
	}
	w := openSensor(t, Options{})
	pid := run(t, t.TempDir(), "cat", "/etc/shadow")
	ev := w.await(t, TypeOpen, "of /etc/shadow by cat", pidIs(pid))
	if ev.Attrs["path"] != "/etc/shadow" || ev.Attrs["name"] != "cat" {
		t.Errorf("FILE.OPEN %v", ev.Attrs)
	}
	if exe, _ := ev.Attrs["exe"].(string); filepath.Base(exe) != "cat" {
		t.Errorf("exe %v, want cat's", ev.Attrs["exe"])
	}
	if _, ok := ev.Attrs["ancestors"].([]string); !ok {
		t.Errorf("no ancestors: %v", ev.Attrs)
	}
}

// homeEvents watches a temporary home directory's authorized_keys for
// changes, as a configuration would /home/.
func homeEvents(home string) config.AgentEvents {
	e := config.DefaultAgentEvents()
	e.ModifyPaths = append(e.ModifyPaths, home+"/")
	e.ModifyNames = nil
	return e
}

// Appending to authorized_keys under a watched prefix is a FILE.MODIFY
// write; renaming it and unlinking it are FILE.MODIFY too, the relative
// paths made absolute with the working directory.
func TestAuthorizedKeysChangesAreFileModify(t *testing.T) {
	home := t.TempDir()
	ssh := filepath.Join(home, ".ssh")
	if err := os.Mkdir(ssh, 0o700); err != nil {
		t.Fatal(err)
	}
	w := openSensor(t, Options{Events: homeEvents(home)})
	keys := filepath.Join(ssh, "authorized_keys")
	pid := run(t, home, "sh", "-c", "echo 'ssh-ed25519 AAAA test' >> .ssh/authorized_keys")
	ev := w.await(t, TypeModify, "write of authorized_keys", pidIs(pid))
	if ev.Attrs["path"] != keys || ev.Attrs["op"] != "write" || ev.Attrs["append"] != true || ev.Attrs["name"] != "sh" {
		t.Errorf("FILE.MODIFY %v", ev.Attrs)
	}
	pid = run(t, ssh, "mv", "authorized_keys", "authorized_keys.old")
	ev = w.await(t, TypeModify, "rename of authorized_keys", pidIs(pid))
	if ev.Attrs["op"] != "rename" || ev.Attrs["path"] != keys || ev.Attrs["new_path"] != keys+".old" {
		t.Errorf("FILE.MODIFY %v", ev.Attrs)
	}
	pid = run(t, ssh, "rm", "authorized_keys.old")
	ev = w.await(t, TypeModify, "unlink of authorized_keys.old", pidIs(pid))
	if ev.Attrs["op"] != "unlink" || ev.Attrs["path"] != keys+".old" {
		t.Errorf("FILE.MODIFY %v", ev.Attrs)
	}
	// Files outside the watched places make no events.
	other := t.TempDir()
	pid = run(t, other, "sh", "-c", "echo x > unwatched; mv unwatched unwatched2; rm unwatched2")
	run(t, home, "true")
	w.await(t, TypeExec, "of the last true", func(e event.Event) bool { return e.Attrs["name"] == "true" })
	if e, ok := w.find(TypeModify, pidIs(pid)); ok {
		t.Errorf("a change outside the watched places was reported: %v", e.Attrs)
	}
}

// Setting the setuid bit on a copy of a shell is a FILE.PERM, wherever the
// file is.
func TestSetuidShellCopyIsFilePerm(t *testing.T) {
	dir := t.TempDir()
	sh := filepath.Join(dir, "sh-copy")
	copyFile(t, "/bin/sh", sh, 0o755)
	w := openSensor(t, Options{})
	pid := run(t, dir, "chmod", "u+s", "sh-copy")
	ev := w.await(t, TypePerm, "chmod u+s of the shell copy", pidIs(pid))
	if ev.Attrs["path"] != sh || ev.Attrs["op"] != "chmod" || ev.Attrs["setuid"] != true || ev.Attrs["mode"] != "4755" {
		t.Errorf("FILE.PERM %v", ev.Attrs)
	}
}

// Truncating a watched file is a FILE.MODIFY truncate (the path resolved
// through the descriptor); chown of a file under a perm_paths prefix is a
// FILE.PERM with the new owner.
func TestTruncateAndChown(t *testing.T) {
	home := t.TempDir()
	e := homeEvents(home)
	e.PermPaths = []string{home + "/"}
	w := openSensor(t, Options{Events: e})
	f := filepath.Join(home, "app.log")
	if err := os.WriteFile(f, []byte("some lines\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pid := run(t, home, "truncate", "-s", "0", "app.log")
	w.await(t, TypeModify, "truncate of app.log", func(e event.Event) bool {
		return e.Attrs["pid"] == int64(pid) && e.Attrs["op"] == "truncate" && e.Attrs["path"] == f
	})
	pid = run(t, home, "chown", "65534:65534", "app.log")
	ev := w.await(t, TypePerm, "chown of app.log", pidIs(pid))
	if ev.Attrs["op"] != "chown" || ev.Attrs["path"] != f || ev.Attrs["owner_uid"] != int64(65534) || ev.Attrs["owner_gid"] != int64(65534) {
		t.Errorf("FILE.PERM %v", ev.Attrs)
	}
}

// A private key read anywhere is a FILE.OPEN by its name, though its
// directory is under no watched prefix (and the kernel skips building the
// paths of other files there).
func TestPrivateKeyReadAnywhereIsFileOpen(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(key, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	w := openSensor(t, Options{})
	pid := run(t, dir, "cat", "notes", "id_ed25519")
	ev := w.await(t, TypeOpen, "of the key", pidIs(pid))
	if ev.Attrs["path"] != key {
		t.Errorf("FILE.OPEN %v", ev.Attrs)
	}
	if e, ok := w.find(TypeOpen, func(e event.Event) bool { return e.Attrs["path"] == filepath.Join(dir, "notes") }); ok {
		t.Errorf("an unwatched file was reported: %v", e.Attrs)
	}
}

// The kernel skips building a path when every watched prefix has a whole
// first component; a partial one turns that off.
func TestFirstComponents(t *testing.T) {
	roots, whole := firstComponents(config.DefaultAgentEvents())
	if !whole || !slices.Contains(roots, "etc") || !slices.Contains(roots, "var") || !slices.Contains(roots, "root") {
		t.Errorf("defaults: roots %q whole %v", roots, whole)
	}
	e := config.DefaultAgentEvents()
	e.OpenPaths = append(e.OpenPaths, "/op")
	if _, whole := firstComponents(e); whole {
		t.Error("a prefix /op (of /opt and /op...) left the shortcut on")
	}
}
