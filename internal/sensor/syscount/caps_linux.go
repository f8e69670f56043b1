package syscount

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Capability bits (linux/capability.h).
const (
	capSysAdmin = 21
	capPerfmon  = 38
	capBPF      = 39
)

// missingPrivileges returns what this process lacks to load and attach a
// tracing eBPF program: CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN. It reads
// the effective capabilities from procRoot/self/status; when they cannot be
// read it assumes nothing is missing (the load will say).
func missingPrivileges(procRoot string) (missing []string, detail string) {
	f, err := os.Open(filepath.Join(procRoot, "self", "status"))
	if err != nil {
		return nil, ""
	}
	defer f.Close()
	var capEff uint64
	found := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			capEff, err = strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			found = err == nil
			break
		}
	}
	if !found {
		return nil, ""
	}
	has := func(c uint) bool { return capEff&(1<<c) != 0 }
	if has(capSysAdmin) || (has(capBPF) && has(capPerfmon)) {
		return nil, ""
	}
	if !has(capBPF) {
		missing = append(missing, "CAP_BPF")
	}
	if !has(capPerfmon) {
		missing = append(missing, "CAP_PERFMON")
	}
	detail = fmt.Sprintf("running as uid %d with effective capabilities %#x; run as root, or grant them: setcap cap_bpf,cap_perfmon+ep %s",
		os.Geteuid(), capEff, executable())
	return missing, detail
}

func executable() string {
	if p, err := os.Executable(); err == nil {
		return p
	}
	return "vigil"
}

// MissingPrivileges is missingPrivileges for the other eBPF sensors.
func MissingPrivileges(procRoot string) (missing []string, detail string) {
	return missingPrivileges(procRoot)
}
