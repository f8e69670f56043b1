package bus

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// An Identity is a user name and password for the bus, as an identity file
// holds it: {"user": "...", "password": "..."}.
type Identity struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// The identities the embedded server makes for itself at first start.
const (
	// MonitorUser may do anything: the monitor administers the streams
	// and consumers, reads observations and publishes reports.
	MonitorUser = "vigil-monitor"
	// SensorUser may only publish observations, live observations, count
	// vectors and heartbeats, read the replies to its own requests (the
	// streams' acknowledgements), and take effector and agent
	// configuration requests and answer them (never send one).
	SensorUser = "vigil-sensor"
)

// Identity files in the directory LocalIdentities keeps.
const (
	MonitorIdentityFile = "monitor.json"
	SensorIdentityFile  = "sensor.json"
)

// maxIdentityFile bounds what ReadIdentity reads.
const maxIdentityFile = 4 << 10

// InboxPrefix is the prefix of the reply subjects of a user's connections.
// A user allowed to subscribe only below its own prefix cannot read the
// replies another identity gets, such as the messages a monitor's pull
// consumer delivers.
func InboxPrefix(user string) string { return "_INBOX." + Token(user) }

// MonitorIdentity is the server-side identity of the monitor: no limits.
func MonitorIdentity(id Identity) User {
	return User{Name: id.User, Password: id.Password}
}

// SensorIdentity is the server-side identity of the sensors: publishing on
// the sensors' subjects only, subscribing to its own replies and to the
// effectors' and agents' requests only, and answering the requests it
// received. It
// cannot use the JetStream API (create, delete, purge or read streams), nor
// publish reports, control requests or effector requests.
func SensorIdentity(id Identity) User {
	return User{
		Name: id.User, Password: id.Password,
		Publish:        []string{PrefixObs + ">", PrefixLive + ">", PrefixCV + ">", PrefixHeartbeat + ">"},
		Subscribe:      []string{InboxPrefix(id.User) + ".>", PrefixEffect + ">", PrefixAgentCtl + ">"},
		AllowResponses: true,
	}
}

// LocalIdentities returns the monitor's and the sensors' identities kept in
// dir, creating the directory (mode 0700) and each file (mode 0600, random
// password) that is not there yet. A file that group or others may read,
// or that another user owns, is refused: its password is no secret.
func LocalIdentities(dir string) (monitor, sensor Identity, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return monitor, sensor, fmt.Errorf("bus identities: %w", err)
	}
	if monitor, err = localIdentity(filepath.Join(dir, MonitorIdentityFile), MonitorUser); err != nil {
		return monitor, sensor, err
	}
	sensor, err = localIdentity(filepath.Join(dir, SensorIdentityFile), SensorUser)
	return monitor, sensor, err
}

func localIdentity(path, user string) (Identity, error) {
	id, err := ReadIdentity(path)
	if err == nil {
		if err := private(path); err != nil {
			return id, err
		}
		if id.User != user {
			return id, fmt.Errorf("bus identity %s: user %q, want %q", path, id.User, user)
		}
		return id, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return id, err
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return id, fmt.Errorf("bus identity %s: %w", path, err)
	}
	id = Identity{User: user, Password: hex.EncodeToString(b[:])}
	data, _ := json.Marshal(id)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return id, fmt.Errorf("bus identity: %w", err)
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		os.Remove(path)
		return id, fmt.Errorf("bus identity %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return id, fmt.Errorf("bus identity %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return id, fmt.Errorf("bus identity %s: %w", path, err)
	}
	return id, nil
}

// private checks that only this process's user may read path.
func private(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("bus identity: %w", err)
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		return fmt.Errorf("bus identity %s: mode %04o lets others read the password; run chmod 600 %s", path, m, path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("bus identity %s: owned by uid %d, not by this process's user (uid %d)", path, st.Uid, os.Geteuid())
	}
	return nil
}

// ReadIdentity reads an identity file.
func ReadIdentity(path string) (Identity, error) {
	var id Identity
	f, err := os.Open(path)
	if err != nil {
		return id, fmt.Errorf("bus identity: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxIdentityFile+1))
	if err != nil {
		return id, fmt.Errorf("bus identity %s: %w", path, err)
	}
	if len(b) > maxIdentityFile {
		return id, fmt.Errorf("bus identity %s: larger than %d bytes", path, maxIdentityFile)
	}
	if err := json.Unmarshal(b, &id); err != nil {
		// The decoder's message may quote the file, password included.
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return id, fmt.Errorf("bus identity %s: not JSON (offset %d)", path, se.Offset)
		}
		return id, fmt.Errorf("bus identity %s: not an identity file of two strings, %q and %q", path, "user", "password")
	}
	if id.User == "" || id.Password == "" {
		return id, fmt.Errorf("bus identity %s: needs both %q and %q", path, "user", "password")
	}
	return id, nil
}
