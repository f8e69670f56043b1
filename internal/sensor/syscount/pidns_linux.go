package syscount

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// initialPidNamespace is the inode number of the initial pid namespace
// (the kernel's PROC_PID_INIT_INO).
const initialPidNamespace = 0xEFFFFFFC

// ownPidNamespace returns the device and inode number of this process's
// pid namespace, or 0, 0 when that is the initial one.
func ownPidNamespace() (dev uint64, ino uint32, err error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/pid", &st); err != nil {
		return 0, 0, fmt.Errorf("reading the pid namespace: %w", err)
	}
	if st.Ino == initialPidNamespace || st.Ino > 0xffffffff {
		return 0, 0, nil
	}
	return st.Dev, uint32(st.Ino), nil
}

// procShowsOwnNamespace says whether the proc filesystem at procRoot
// numbers processes as this process's pid namespace does (it was mounted
// for this namespace): its "self" is this process's own pid.
func procShowsOwnNamespace(procRoot string) bool {
	self, err := os.Readlink(filepath.Join(procRoot, "self"))
	return err == nil && self == strconv.Itoa(os.Getpid())
}
