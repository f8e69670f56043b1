package config

import "time"

// The defaults of settings that a resource object, a flag or a component
// may leave out: written here once, and used by Default, by the verbs'
// flags and by the components themselves.
const (
	// DefaultBusListen is where the embedded bus server listens.
	DefaultBusListen = "127.0.0.1:4222"
	// DefaultBusURL is the bus a process connects to when nothing names one.
	DefaultBusURL = "nats://" + DefaultBusListen
	// DefaultHTTPListen is where vigil up serves the live page and the API.
	DefaultHTTPListen = "127.0.0.1:8080"
	// DefaultDataDir holds a monitor's store and bus files, and the
	// sensors' spools.
	DefaultDataDir = "./vigil-data"

	// DefaultAgentInterval is the time between samples of /proc.
	DefaultAgentInterval = 4 * time.Second
	// DefaultAgentWindow is how many samples each running average covers.
	DefaultAgentWindow = 5
	// DefaultCPULevel is the CPU use, in percent of one core, that a
	// process must hold for DefaultCPULevelFor to be a PROC.CPU.LEVEL
	// observation.
	DefaultCPULevel = 90.0
	// DefaultCPULevelFor is how long CPU use must stay at its level.
	DefaultCPULevelFor = time.Minute
	// DefaultMemLevel is the share of the host's memory, in percent, that
	// a process must hold resident for DefaultMemLevelFor to be a
	// PROC.MEM.LEVEL observation.
	DefaultMemLevel = 50.0
	// DefaultMemLevelFor is how long memory use must stay at its level.
	DefaultMemLevelFor = 5 * time.Minute
	// DefaultLevelRepeat is how often a level that still holds is
	// reported again.
	DefaultLevelRepeat = 10 * time.Minute
	// DefaultProc is the root of the proc filesystem.
	DefaultProc = "/proc"
	// DefaultSpoolMaxBytes bounds a sensor's spool.
	DefaultSpoolMaxBytes = 64 << 20
	// DefaultSyscallInterval is the length of a system call count interval.
	DefaultSyscallInterval = time.Second
	// DefaultSyscallMapEntries is how many (process, system call) pairs the
	// kernel map holds per interval.
	DefaultSyscallMapEntries = 65536

	// DefaultSummaryInterval is the length of the network sensor's
	// interval summaries.
	DefaultSummaryInterval = 10 * time.Second
	// DefaultMaxFlows bounds the network sensor's flow table.
	DefaultMaxFlows = 1 << 18
	// DefaultAttemptTimeout is how long the network sensor waits for an
	// answer before a connection attempt is unanswered.
	DefaultAttemptTimeout = 5 * time.Second
)
