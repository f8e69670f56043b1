package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ids/vigil/internal/auth"
)

// usersRun runs `vigil users ARGS` with stdin.
func usersRun(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := usersCmd(&env{stdout: &out, stderr: &errb})
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	err := cmd.Execute()
	return out.String(), err
}

func TestUsersAddListRemove(t *testing.T) {
	dir := t.TempDir()
	if _, err := usersRun(t, "operator-password\n", "add", "olga", "--role", "operator", "--data", dir); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, auth.UsersFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("users file: %v, %v", st, err)
	}
	if u, err := auth.Open(dir).Authenticate("olga", []byte("operator-password")); err != nil || u.Role != auth.Operator {
		t.Fatalf("olga: %+v, %v", u, err)
	}
	out, err := usersRun(t, "", "list", "--data", dir)
	if err != nil || !strings.Contains(out, "olga") || !strings.Contains(out, "operator") {
		t.Errorf("list: %q, %v", out, err)
	}
	if _, err := usersRun(t, "x\n", "add", "eve", "--role", "root", "--data", dir); err == nil || !strings.Contains(err.Error(), "root") {
		t.Errorf("unknown role: %v", err)
	}
	if _, err := usersRun(t, "", "add", "eve", "--role", "viewer", "--data", dir); err == nil || !strings.Contains(err.Error(), "no password") {
		t.Errorf("no password: %v", err)
	}
	if _, err := usersRun(t, "short\n", "add", "eve", "--role", "viewer", "--data", dir); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Errorf("short password: %v", err)
	}
	if _, err := usersRun(t, "", "remove", "olga", "--data", dir); err != nil {
		t.Fatal(err)
	}
	if n, _ := auth.Open(dir).Count(); n != 0 {
		t.Errorf("%d accounts after remove", n)
	}
}

// TestListenOffLoopbackNeedsAccounts: `vigil up --listen 0.0.0.0:...`
// (and `vigil monitor`) without accounts refuses to start and says what
// to create; --insecure-http is gone.
func TestListenOffLoopbackNeedsAccounts(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := runVigil(t, "up", "--listen", "0.0.0.0:18080", "--data", dir, "--no-agent")
	if code != ExitFailure || !strings.Contains(stderr, "vigil users add NAME --role admin --data "+dir) {
		t.Errorf("up off loopback without accounts: exit %d, %q", code, stderr)
	}
	code, _, stderr = runVigil(t, "monitor", "--config", "../../configs/default.yaml", "--listen", "192.0.2.1:18080", "--data", dir)
	if code == 0 || !strings.Contains(stderr, "vigil users add") {
		t.Errorf("monitor off loopback without accounts: exit %d, %q", code, stderr)
	}
	code, _, stderr = runVigil(t, "up", "--listen", "0.0.0.0:18080", "--insecure-http", "--data", dir)
	if code == 0 || !strings.Contains(stderr, "insecure-http") {
		t.Errorf("--insecure-http: exit %d, %q", code, stderr)
	}
}
