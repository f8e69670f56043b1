package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cheap keeps the tests fast; the encoding and checks are the same.
var cheap = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

var t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func TestHashEncodesParametersAndVerifies(t *testing.T) {
	h, err := HashPassword([]byte("correct horse battery"), DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=2$") {
		t.Fatalf("encoded %q", h)
	}
	parsed, err := ParseHash(h)
	if err != nil {
		t.Fatal(err)
	}
	if !parsed.Verify([]byte("correct horse battery")) {
		t.Error("the right password is refused")
	}
	if parsed.Verify([]byte("correct horse battery!")) || parsed.Verify([]byte("")) {
		t.Error("a wrong password is accepted")
	}
	h2, _ := HashPassword([]byte("correct horse battery"), DefaultParams)
	if h2 == h {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
}

func TestPasswordLengthLimits(t *testing.T) {
	if _, err := HashPassword([]byte("short"), cheap); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Errorf("short password: %v", err)
	}
	if _, err := HashPassword(make([]byte, MaxPassword+1), cheap); err == nil || !strings.Contains(err.Error(), "too long") {
		t.Errorf("long password: %v", err)
	}
}

func TestParseHashRefusesBadOrCostlyHashes(t *testing.T) {
	good, _ := HashPassword([]byte("0123456789"), cheap)
	salt := strings.Split(good, "$")[4]
	key := strings.Split(good, "$")[5]
	for _, c := range []struct{ hash, want string }{
		{"$2y$10$abcdefghijklmnopqrstuv", "not an argon2id hash"},
		{"$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key, "version"},
		{"$argon2id$v=19$m=4194304,t=1,p=1$" + salt + "$" + key, "out of bounds"},
		{"$argon2id$v=19$m=64,t=1000,p=1$" + salt + "$" + key, "out of bounds"},
		{"$argon2id$v=19$m=64,t=1$" + salt + "$" + key, "want m, t and p"},
		{"$argon2id$v=19$m=64,t=1,p=1,x=2$" + salt + "$" + key, "unknown"},
		{"$argon2id$v=19$m=64,t=1,p=1$!!$" + key, "salt"},
		{"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$QUJD", "key"},
		{"$argon2id$v=19$m=64,t=1,p=1$" + salt, "fields"},
	} {
		if _, err := ParseHash(c.hash); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseHash(%q) = %v, want an error with %q", c.hash, err, c.want)
		}
	}
}

func TestRolesAreOrdered(t *testing.T) {
	for _, c := range []struct {
		r, need Role
		ok      bool
	}{
		{Viewer, Viewer, true}, {Viewer, Operator, false}, {Operator, Viewer, true}, {Operator, Admin, false},
		{Admin, Operator, true}, {Role("root"), Viewer, false},
	} {
		if got := c.r.Allows(c.need); got != c.ok {
			t.Errorf("%s allows %s = %v, want %v", c.r, c.need, got, c.ok)
		}
	}
	if _, err := ParseRole("superuser"); err == nil {
		t.Error("unknown role parsed")
	}
}

func TestAccountsFileAddAuthenticateRemove(t *testing.T) {
	dir := t.TempDir()
	a := Open(dir)
	a.Params = cheap
	if n, err := a.Count(); err != nil || n != 0 {
		t.Fatalf("no file: %d, %v", n, err)
	}
	if err := a.Add("alice", Admin, []byte("alice-password"), t0, false); err != nil {
		t.Fatal(err)
	}
	if err := a.Add("bob", Viewer, []byte("bob-password!"), t0, false); err != nil {
		t.Fatal(err)
	}
	if err := a.Add("bob", Operator, []byte("bob-password2"), t0, false); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Errorf("adding bob twice: %v", err)
	}
	st, err := os.Stat(filepath.Join(dir, UsersFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("file mode %04o, want 0600", st.Mode().Perm())
	}
	b, _ := os.ReadFile(filepath.Join(dir, UsersFile))
	if strings.Contains(string(b), "alice-password") {
		t.Error("the file holds a password in clear")
	}
	// Another process (the monitor) sees the file as written.
	other := Open(dir)
	u, err := other.Authenticate("bob", []byte("bob-password!"))
	if err != nil || u.Role != Viewer {
		t.Fatalf("bob: %+v, %v", u, err)
	}
	if _, err := other.Authenticate("bob", []byte("alice-password")); err != ErrBadCredentials {
		t.Errorf("wrong password: %v", err)
	}
	if _, err := other.Authenticate("carol", []byte("alice-password")); err != ErrBadCredentials {
		t.Errorf("unknown user: %v", err)
	}
	if err := a.Add("bob", Operator, []byte("bob-password2"), t0, true); err != nil {
		t.Fatal(err)
	}
	if u, err := other.Authenticate("bob", []byte("bob-password2")); err != nil || u.Role != Operator {
		t.Errorf("bob after --replace: %+v, %v", u, err)
	}
	if err := a.Remove("bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Authenticate("bob", []byte("bob-password2")); err != ErrBadCredentials {
		t.Errorf("removed user: %v", err)
	}
	if err := a.Remove("bob"); err == nil {
		t.Error("removing a missing user succeeded")
	}
	us, _ := other.List()
	if len(us) != 1 || us[0].Name != "alice" || us[0].Role != Admin || !us[0].Created.Equal(t0) {
		t.Errorf("list %+v", us)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the directory holds %d entries, want the file only (no temporary files left)", len(entries))
	}
}

func TestAccountsFileReadableByOthersIsRefused(t *testing.T) {
	dir := t.TempDir()
	a := Open(dir)
	a.Params = cheap
	if err := a.Add("alice", Admin, []byte("alice-password"), t0, false); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, UsersFile)
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Count(); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("mode 0644: %v", err)
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := a.Count(); err != nil || n != 1 {
		t.Errorf("after chmod 600: %d, %v", n, err)
	}
}

func TestDecodeUsersNamesTheBadEntry(t *testing.T) {
	good, _ := HashPassword([]byte("0123456789"), cheap)
	for _, c := range []struct{ doc, want string }{
		{`{"users":[{"name":"a","role":"viewer","hash":"` + good + `","colour":1}]}`, "unknown field"},
		{`{"users":[{"name":"a b","role":"viewer","hash":"` + good + `"}]}`, "users[0]"},
		{`{"users":[{"name":"a","role":"viewer","hash":"` + good + `"},{"name":"a","role":"admin","hash":"` + good + `"}]}`, "listed twice"},
		{`{"users":[{"name":"a","role":"god","hash":"` + good + `"}]}`, `role "god" unknown`},
		{`{"users":[{"name":"a","role":"viewer","hash":"plain"}]}`, "hash"},
		{`{"users":[]} {}`, "data after"},
	} {
		_, err := DecodeUsers("users.json", []byte(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "users.json") {
			t.Errorf("%s: %v, want an error naming the file with %q", c.doc, err, c.want)
		}
	}
}

func FuzzParseHash(f *testing.F) {
	good, _ := HashPassword([]byte("0123456789"), cheap)
	f.Add(good)
	f.Add("$argon2id$v=19$m=64,t=1,p=1$$")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHash(s)
		if err != nil {
			return
		}
		if h.Params.Memory > maxMemory || h.Params.Time > maxTime || len(h.Salt) < minSaltLen || len(h.Key) < minKeyLen {
			t.Fatalf("accepted out-of-bounds hash %q: %+v", s, h.Params)
		}
	})
}

func FuzzDecodeUsers(f *testing.F) {
	good, _ := HashPassword([]byte("0123456789"), cheap)
	f.Add([]byte(`{"users":[{"name":"a","role":"viewer","hash":"` + good + `"}]}`))
	f.Add([]byte(`{"users":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		us, err := DecodeUsers("f", b)
		if err != nil {
			return
		}
		for _, u := range us {
			if ValidName(u.Name) != nil || u.Role.rank() == 0 {
				t.Fatalf("accepted bad user %+v", u)
			}
		}
	})
}

// TestChangesAreSeenByAnotherReader changes the file from one Accounts
// (as `vigil users` does) and reads the changes from another (the
// monitor's), which had read the file before.
func TestChangesAreSeenByAnotherReader(t *testing.T) {
	dir := t.TempDir()
	cli := Open(dir)
	cli.Params = cheap
	mon := Open(dir)
	if c := mon.TakeChanges(); len(c) != 0 {
		t.Fatalf("changes before any: %+v", c)
	}
	if err := cli.Add("alice", Viewer, []byte("alice-password"), t0, false); err != nil {
		t.Fatal(err)
	}
	if err := cli.Add("bob", Operator, []byte("bob-password"), t0, false); err != nil {
		t.Fatal(err)
	}
	c := mon.TakeChanges()
	if len(c) != 2 || c[0] != (Change{What: "user_added", Name: "alice", To: Viewer}) || c[1] != (Change{What: "user_added", Name: "bob", To: Operator}) {
		t.Fatalf("after two adds: %+v", c)
	}
	if err := cli.Add("alice", Admin, []byte("alice-password2"), t0, true); err != nil {
		t.Fatal(err)
	}
	if err := cli.Add("bob", Operator, []byte("bob-password2"), t0, true); err != nil {
		t.Fatal(err)
	}
	if err := cli.Remove("alice"); err != nil {
		t.Fatal(err)
	}
	// The reader sees the file as it is now: bob's new password and
	// alice gone (her role change was overwritten before it was read).
	c = mon.TakeChanges()
	if len(c) != 2 || c[0].What != "user_password_changed" || c[0].Name != "bob" || c[1] != (Change{What: "user_removed", Name: "alice", From: Viewer}) {
		t.Fatalf("after replace and remove: %+v", c)
	}
	if c := mon.TakeChanges(); len(c) != 0 {
		t.Errorf("changes taken twice: %+v", c)
	}
	// The writer sees its own changes too.
	if c := cli.TakeChanges(); len(c) != 5 {
		t.Errorf("the writer's own changes: %+v", c)
	}
}

// BenchmarkVerifyDefault is one login's password check with
// DefaultParams (docs/SECURITY.md).
func BenchmarkVerifyDefault(b *testing.B) {
	enc, err := HashPassword([]byte("correct horse battery"), DefaultParams)
	if err != nil {
		b.Fatal(err)
	}
	h, _ := ParseHash(enc)
	for b.Loop() {
		if !h.Verify([]byte("correct horse battery")) {
			b.Fatal("refused")
		}
	}
}
