//go:build !linux

package syscount

func missingPrivileges(string) ([]string, string) { return nil, "" }

// MissingPrivileges is missingPrivileges for the other eBPF sensors.
func MissingPrivileges(procRoot string) ([]string, string) { return missingPrivileges(procRoot) }
