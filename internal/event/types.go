package event

import "strings"

// The observation ontology. Host sensor types are those of seed 000 Table 1:
// continuous types correspond to slope anomalies of a metric, discrete types
// to singular, categorical events. Types are open-ended: sensors and
// third-party tools may use others that pass CheckType; these are the ones
// Vigil's own parts produce and its models name.
const (
	// Continuous host types (seed 000 Table 1).
	TypeProcMem   = "PROC.MEM"    // process memory utilisation
	TypeProcCPU   = "PROC.CPU"    // process CPU utilisation
	TypeSysDiskIO = "SYS.DISK.IO" // disk read/write operations
	TypeSysNetRX  = "SYS.NET.RX"  // incoming network traffic
	TypeSysNetTX  = "SYS.NET.TX"  // outgoing network traffic
	TypeSysMem    = "SYS.MEM"     // system memory utilisation
	TypeSysCPU    = "SYS.CPU"     // system CPU utilisation

	// Discrete host types (seed 000 Table 1).
	TypeProcSpawn         = "PROC.SPAWN"           // a monitored process type was spawned
	TypeProcTerm          = "PROC.TERM"            // a monitored process type terminated
	TypeSysProcsGrowth    = "SYS.PROCS.GROWTH"     // growth in the number of processes
	TypeSysNetSocksGrowth = "SYS.NET.SOCKS.GROWTH" // growth in active network sockets

	// Level observations of the host sensor: a process that holds CPU or
	// memory above a configured level for a configured time (beside
	// Table 1's slopes, which fall silent once use stops rising).
	TypeProcCPULevel = "PROC.CPU.LEVEL" // sustained CPU use of a process
	TypeProcMemLevel = "PROC.MEM.LEVEL" // sustained memory use of a process

	// Host security events of the eBPF event programs (docs/EVENTS.md).
	TypeProcExec     = "PROC.EXEC"     // a process ran a program
	TypeProcExit     = "PROC.EXIT"     // a process ended
	TypeFileOpen     = "FILE.OPEN"     // a watched file was opened for reading
	TypeFileModify   = "FILE.MODIFY"   // a watched file was written, truncated, renamed or unlinked
	TypeFilePerm     = "FILE.PERM"     // a setuid/setgid bit was set, or a watched file's mode or owner changed
	TypeProcCred     = "PROC.CRED"     // a process gained uid or euid 0
	TypeProcPtrace   = "PROC.PTRACE"   // a process attached to, or wrote into, another
	TypeProcMemfd    = "PROC.MEMFD"    // a process made an anonymous memory file
	TypeKernelModule = "KERNEL.MODULE" // a kernel module load was asked for
	TypeKernelBPF    = "KERNEL.BPF"    // a BPF program load was asked for
	TypeProcConnect  = "PROC.CONNECT"  // a process connected out
	TypeProcAccept   = "PROC.ACCEPT"   // a process accepted a connection

	// Responses of a monitor's resolver (docs/EVENTS.md, docs/RESPONSES.md):
	// a response is itself an observation.
	TypeResponseAction = "RESPONSE.ACTION" // a response method acted (or, in a dry run, would have)
	TypeResponseUndo   = "RESPONSE.UNDO"   // an action expired or was undone

	// TypeControlRequest is a configuration request a monitor answered
	// (applied, refused or failed), with who sent it: its audit trail
	// (docs/EVENTS.md, internal/control).
	TypeControlRequest = "CONTROL.REQUEST"
	// Health of a watching monitor's children (docs/EVENTS.md): a child
	// that stopped sending heartbeats, then was lost, then came back.
	TypeMonitorStale = "MONITOR.STALE"
	TypeMonitorLost  = "MONITOR.LOST"
	TypeMonitorAlive = "MONITOR.ALIVE"

	// TypeReport is an analysis result (see Report).
	TypeReport = "REPORT"
	// TypeNIDSAlert is an alert of a network intrusion-detection system
	// (Suricata, Snort, Vigil's own signature engine on a gateway stream).
	TypeNIDSAlert = "NIDS.ALERT"
)

// Category of an observation type.
type Category int

// Categories of seed 000 section 3.2.
const (
	CategoryOther      Category = iota // not a host sensor type
	CategoryContinuous                 // a slope anomaly of a metric
	CategoryDiscrete                   // a singular, categorical event
)

var hostTypes = map[string]Category{
	TypeProcMem:           CategoryContinuous,
	TypeProcCPU:           CategoryContinuous,
	TypeSysDiskIO:         CategoryContinuous,
	TypeSysNetRX:          CategoryContinuous,
	TypeSysNetTX:          CategoryContinuous,
	TypeSysMem:            CategoryContinuous,
	TypeSysCPU:            CategoryContinuous,
	TypeProcSpawn:         CategoryDiscrete,
	TypeProcTerm:          CategoryDiscrete,
	TypeSysProcsGrowth:    CategoryDiscrete,
	TypeSysNetSocksGrowth: CategoryDiscrete,
}

// HostTypes lists the host sensor observation types of seed 000 Table 1,
// continuous first, in the table's order.
func HostTypes() []string {
	return []string{
		TypeProcMem, TypeProcCPU, TypeSysDiskIO, TypeSysNetRX, TypeSysNetTX, TypeSysMem, TypeSysCPU,
		TypeProcSpawn, TypeProcTerm, TypeSysProcsGrowth, TypeSysNetSocksGrowth,
	}
}

// CategoryOf says whether t is a continuous or discrete host type.
func CategoryOf(t string) Category { return hostTypes[t] }

// IsProcessLevel reports whether t is a process-level type (PROC.*); the
// others of Table 1 are system-level (SYS.*).
func IsProcessLevel(t string) bool { return strings.HasPrefix(t, "PROC.") }

// ownTypes are the types Vigil's own parts produce: the host sensor's, the
// network sensor's (internal/sensor/netsensor), the firewall log's
// (internal/ingest/fwlog), NIDS alerts, reports, the resolver's responses
// and sensor health. Each
// producing package's tests check that its types are listed here.
var ownTypes = map[string]bool{
	TypeReport: true, TypeNIDSAlert: true, "SENSOR.DROPPED": true, TypeProcCPULevel: true, TypeProcMemLevel: true,
	"NET.CONN": true, "NET.FLOW": true, "NET.PROBE": true, "NET.ICMP": true, "NET.HTTP": true, "NET.FTP": true, "NET.SMTP": true,
	"NET.DNS": true, "NET.BANNER": true, "NET.SUMMARY": true, "NET.IP": true, "NET.FW.DROP": true, "NET.FW.PASS": true,
	TypeProcExec: true, TypeProcExit: true, TypeFileOpen: true, TypeFileModify: true, TypeFilePerm: true,
	TypeProcCred: true, TypeProcPtrace: true, TypeProcMemfd: true, TypeKernelModule: true, TypeKernelBPF: true,
	TypeProcConnect: true, TypeProcAccept: true, TypeResponseAction: true, TypeResponseUndo: true,
	TypeControlRequest: true,
	TypeMonitorStale:   true, TypeMonitorLost: true, TypeMonitorAlive: true,
}

// KnownType tells whether t is a type Vigil's own parts produce, or a
// pattern ("NET.*", "*") that covers one. Files that name event types
// (process models) use it to catch misspellings; other types are declared
// by those files.
func KnownType(t string) bool {
	if t == "*" {
		return true
	}
	if p, ok := strings.CutSuffix(t, "*"); ok {
		for k := range ownTypes {
			if strings.HasPrefix(k, p) {
				return true
			}
		}
		for k := range hostTypes {
			if strings.HasPrefix(k, p) {
				return true
			}
		}
		return false
	}
	return ownTypes[t] || hostTypes[t] != CategoryOther
}

// SourceAgent is the source of the host agent's events: their host and
// ip are both the agent's own machine (a sensor's events name the sensor
// as host and the machine observed as ip).
const SourceAgent = "agent"

// AttrSrcVerified is the report attribute saying that the address in the
// report's src attribute could not have been forged (SourceVerified held
// for the event behind it); the resolver blocks no other address.
const AttrSrcVerified = "src_verified"

// SourceVerified tells whether ev, a network sensor's record, shows that
// its src address could not have been forged: the server sent data back
// on a TCP connection, which it does only once the three-way handshake
// has completed with the real owner of the address (a source that forges
// its address never sees the SYN-ACK it would have to acknowledge). Such
// records are a NET.FLOW with bytes_to_client, a NET.HTTP request with its
// status, a NET.FTP or NET.SMTP command with its reply, and a NET.BANNER
// answer (reply: true). A SYN answered by a SYN-ACK (NET.CONN established)
// is not enough: the answer went to whoever the SYN named.
func SourceVerified(ev *Event) bool {
	if p, _ := ev.Attrs["proto"].(string); p != "tcp" {
		return false
	}
	if _, ok := ev.Attrs["src"].(string); !ok {
		return false
	}
	switch ev.Type {
	case "NET.FLOW":
		n, ok := ev.Num("bytes_to_client")
		return ok && n > 0
	case "NET.HTTP":
		_, ok := ev.Num("status")
		return ok
	case "NET.FTP", "NET.SMTP":
		_, ok := ev.Num("reply")
		return ok
	case "NET.BANNER":
		r, _ := ev.Attrs["reply"].(bool)
		return r
	}
	return false
}
