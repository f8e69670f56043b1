package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// UsersFile is the accounts file's name in the data directory.
const UsersFile = "users.json"

// maxUsersFile bounds the accounts file read.
const maxUsersFile = 4 << 20

// Role is what an account may do.
type Role string

// The roles, each allowed what the one before it is.
const (
	// Viewer reads: the live page, events, reports, tracks, responses.
	Viewer Role = "viewer"
	// Operator also undoes and requests responses and submits events.
	Operator Role = "operator"
	// Admin also reads the audit log and manages accounts.
	Admin Role = "admin"
)

func (r Role) rank() int {
	switch r {
	case Viewer:
		return 1
	case Operator:
		return 2
	case Admin:
		return 3
	}
	return 0
}

// Allows reports whether r may do what need may.
func (r Role) Allows(need Role) bool { return r.rank() > 0 && r.rank() >= need.rank() }

// ParseRole reads a role's name.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if r.rank() == 0 {
		return "", fmt.Errorf("role %q unknown: want viewer, operator or admin", s)
	}
	return r, nil
}

// User is one account.
type User struct {
	Name    string    `json:"name"`
	Role    Role      `json:"role"`
	Hash    string    `json:"hash"`
	Created time.Time `json:"created"`
}

// usersJSON is the file's form.
type usersJSON struct {
	Users []User `json:"users"`
}

// ValidName checks an account name: 1 to 64 letters, digits, '.', '_',
// '-' or '@', starting with a letter or digit.
func ValidName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("user name %q: want 1 to 64 characters", name)
	}
	for i, c := range []byte(name) {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-' && c != '@') {
			return fmt.Errorf("user name %q: want letters, digits, '.', '_', '-' or '@', starting with a letter or digit", name)
		}
	}
	return nil
}

// DecodeUsers reads an accounts file's content strictly: unknown fields,
// bad names, unknown roles, malformed hashes and duplicate names are
// errors naming the file and the entry.
func DecodeUsers(path string, b []byte) ([]User, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f usersJSON
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: data after the JSON object", path)
	}
	seen := map[string]bool{}
	for i, u := range f.Users {
		where := fmt.Sprintf("%s: users[%d]", path, i)
		if err := ValidName(u.Name); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if seen[u.Name] {
			return nil, fmt.Errorf("%s: user %q listed twice", where, u.Name)
		}
		seen[u.Name] = true
		if _, err := ParseRole(string(u.Role)); err != nil {
			return nil, fmt.Errorf("%s (%s): %w", where, u.Name, err)
		}
		if _, err := ParseHash(u.Hash); err != nil {
			return nil, fmt.Errorf("%s (%s): hash: %w", where, u.Name, err)
		}
	}
	return f.Users, nil
}

// Accounts is the accounts file of a data directory. Its methods are safe
// for concurrent use; reads see the file as it is now (it is read again
// when its size or modification time changes).
type Accounts struct {
	path string
	// Params hash new passwords (default DefaultParams).
	Params Params

	mu    sync.Mutex
	stamp fileStamp
	users []User
	err   error
	// dummy is verified for unknown users, so that they cost as much as
	// known ones.
	dummy Hash
	// loaded says users (or the file's absence) has been read once: the
	// changes are counted from then.
	loaded  bool
	changes []Change
}

// Change is an account changed in the file since it was first read.
type Change struct {
	// What is "user_added", "user_removed", "user_role_changed" or
	// "user_password_changed".
	What string
	Name string
	// From and To are the roles before and after.
	From, To Role
}

// maxChanges bounds the changes kept until TakeChanges.
const maxChanges = 1000

// TakeChanges returns the account changes seen since the last call (the
// file is compared each time it is read again).
func (a *Accounts) TakeChanges() []Change {
	a.mu.Lock()
	defer a.mu.Unlock()
	_ = a.refresh()
	c := a.changes
	a.changes = nil
	return c
}

// diff records what changed from before to after.
func (a *Accounts) diff(before, after []User) {
	old := map[string]User{}
	for _, u := range before {
		old[u.Name] = u
	}
	add := func(c Change) {
		if len(a.changes) < maxChanges {
			a.changes = append(a.changes, c)
		}
	}
	for _, u := range after {
		o, ok := old[u.Name]
		delete(old, u.Name)
		switch {
		case !ok:
			add(Change{What: "user_added", Name: u.Name, To: u.Role})
		case o.Role != u.Role:
			add(Change{What: "user_role_changed", Name: u.Name, From: o.Role, To: u.Role})
		case o.Hash != u.Hash:
			add(Change{What: "user_password_changed", Name: u.Name, From: o.Role, To: u.Role})
		}
	}
	for _, u := range before {
		if _, gone := old[u.Name]; gone {
			add(Change{What: "user_removed", Name: u.Name, From: u.Role})
		}
	}
}

type fileStamp struct {
	exists bool
	size   int64
	mod    time.Time
	ino    uint64
	mode   fs.FileMode
}

// Open returns the accounts kept in dataDir's UsersFile; the file need
// not exist yet.
func Open(dataDir string) *Accounts {
	return OpenFile(filepath.Join(dataDir, UsersFile))
}

// OpenFile returns the accounts kept in path.
func OpenFile(path string) *Accounts {
	return &Accounts{path: path, Params: DefaultParams}
}

// Path is the accounts file.
func (a *Accounts) Path() string { return a.path }

// refresh reads the file again when it changed; a.mu is held.
func (a *Accounts) refresh() error {
	st, err := os.Stat(a.path)
	var stamp fileStamp
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("accounts: %w", err)
	default:
		stamp = fileStamp{exists: true, size: st.Size(), mod: st.ModTime(), ino: inode(st), mode: st.Mode()}
	}
	if stamp == a.stamp && (a.users != nil || a.err != nil || !stamp.exists) {
		if !stamp.exists {
			a.loaded = true
		}
		return a.err
	}
	prev, hadPrev := a.users, a.loaded && a.err == nil
	if a.users == nil && a.loaded && a.err == nil {
		prev = []User{}
	}
	a.stamp, a.users, a.err = stamp, nil, nil
	if !stamp.exists {
		if hadPrev {
			a.diff(prev, nil)
		}
		a.loaded = true
		return nil
	}
	if st.Mode().Perm()&0o077 != 0 {
		a.err = fmt.Errorf("accounts file %s has mode %04o: others may read the password hashes; run chmod 600 %s", a.path, st.Mode().Perm(), a.path)
		return a.err
	}
	if st.Size() > maxUsersFile {
		a.err = fmt.Errorf("accounts file %s: %d bytes, larger than the limit of %d", a.path, st.Size(), maxUsersFile)
		return a.err
	}
	b, err := os.ReadFile(a.path)
	if err != nil {
		a.err = fmt.Errorf("accounts: %w", err)
		return a.err
	}
	us, err := DecodeUsers(a.path, b)
	if err != nil {
		a.err = err
		return err
	}
	a.users = us
	if a.users == nil {
		a.users = []User{}
	}
	if hadPrev {
		a.diff(prev, a.users)
	}
	a.loaded = true
	return nil
}

// List returns the accounts, sorted by name.
func (a *Accounts) List() ([]User, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.refresh(); err != nil {
		return nil, err
	}
	us := slices.Clone(a.users)
	slices.SortFunc(us, func(x, y User) int { return cmpString(x.Name, y.Name) })
	return us, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Count is the number of accounts; an unreadable file is an error.
func (a *Accounts) Count() (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.refresh(); err != nil {
		return 0, err
	}
	return len(a.users), nil
}

// Lookup returns the account called name.
func (a *Accounts) Lookup(name string) (User, bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.refresh(); err != nil {
		return User{}, false, err
	}
	for _, u := range a.users {
		if u.Name == name {
			return u, true, nil
		}
	}
	return User{}, false, nil
}

// ErrBadCredentials is the answer to an unknown user or a wrong password
// (the two are not told apart).
var ErrBadCredentials = errors.New("unknown user or wrong password")

// Authenticate checks name's password and returns the account. An unknown
// user costs a hash as a known one does.
func (a *Accounts) Authenticate(name string, pw []byte) (User, error) {
	u, ok, err := a.Lookup(name)
	if err != nil {
		return User{}, err
	}
	var h Hash
	if ok {
		if h, err = ParseHash(u.Hash); err != nil {
			return User{}, fmt.Errorf("accounts: %s: %w", name, err)
		}
	} else {
		h = a.dummyHash()
	}
	if !h.Verify(pw) || !ok {
		return User{}, ErrBadCredentials
	}
	return u, nil
}

func (a *Accounts) dummyHash() Hash {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.dummy.Key == nil {
		p := a.Params
		salt := make([]byte, p.SaltLen)
		a.dummy = Hash{Params: p, Salt: salt, Key: make([]byte, p.KeyLen)}
	}
	return a.dummy
}

// Add creates an account, or replaces the password and role of an
// existing one when replace is set.
func (a *Accounts) Add(name string, role Role, pw []byte, now time.Time, replace bool) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if _, err := ParseRole(string(role)); err != nil {
		return err
	}
	hash, err := HashPassword(pw, a.Params)
	if err != nil {
		return err
	}
	return a.update(func(us []User) ([]User, error) {
		for i := range us {
			if us[i].Name == name {
				if !replace {
					return nil, fmt.Errorf("user %q exists already (pass --replace to set a new password and role)", name)
				}
				us[i].Role, us[i].Hash = role, hash
				return us, nil
			}
		}
		return append(us, User{Name: name, Role: role, Hash: hash, Created: now.UTC()}), nil
	})
}

// ErrNoUser is the error of removing an account that does not exist.
var ErrNoUser = errors.New("no such user")

// Remove deletes an account.
func (a *Accounts) Remove(name string) error {
	return a.update(func(us []User) ([]User, error) {
		for i := range us {
			if us[i].Name == name {
				return slices.Delete(us, i, i+1), nil
			}
		}
		return nil, fmt.Errorf("user %q: %w", name, ErrNoUser)
	})
}

// update rewrites the file with what change makes of its accounts.
func (a *Accounts) update(change func([]User) ([]User, error)) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.refresh(); err != nil {
		return err
	}
	us, err := change(slices.Clone(a.users))
	if err != nil {
		return err
	}
	if us == nil {
		us = []User{}
	}
	b, err := json.MarshalIndent(usersJSON{Users: us}, "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(a.path, append(b, '\n')); err != nil {
		return fmt.Errorf("accounts: %w", err)
	}
	a.stamp = fileStamp{}
	return a.refresh()
}

// writeAtomic replaces path with b: a temporary file of mode 0600 in the
// same directory, synced, renamed over path, and the directory synced.
func writeAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			_ = os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
