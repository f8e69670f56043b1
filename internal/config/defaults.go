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
	// DefaultPKIDir holds the CA, its CRL, the certificates it issued and
	// the enrolment tokens (docs/SECURITY.md).
	DefaultPKIDir = DefaultDataDir + "/pki"
	// DefaultTLSDir holds a host's own key and certificate, the CA's
	// certificate and its CRL, as vigil enroll writes them.
	DefaultTLSDir = DefaultDataDir + "/tls"
	// DefaultEnrollListen is where vigil pki serve-enroll listens: other
	// hosts enrol through it, so every address.
	DefaultEnrollListen = ":8443"

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
	// DefaultAgentTimerSlack is the agent process's timer slack: its
	// sleeps may end up to a millisecond late, which spares the runtime's
	// monitor thread a wakeup about every 100 µs while the agent works
	// (docs/PERFORMANCE.md).
	DefaultAgentTimerSlack = time.Millisecond
	// DefaultAgentMaxProcs is how many threads may run the agent's Go code
	// at once: one. The agent's work comes in short bursts (a look at the
	// ring buffer, a batch spooled and published) that one thread does
	// in turn; with more, each hand-over from one of its goroutines to
	// another wakes a second thread, which costs more than the work
	// (docs/PERFORMANCE.md, "Events without maps, and one thread for the
	// agent").
	DefaultAgentMaxProcs = 1
	// DefaultSpoolMaxBytes bounds a sensor's spool.
	DefaultSpoolMaxBytes = 64 << 20
	// DefaultSyscallInterval is the length of a system call count interval.
	DefaultSyscallInterval = time.Second
	// DefaultSyscallMapEntries is how many (process, system call) pairs the
	// kernel map holds per interval.
	DefaultSyscallMapEntries = 65536

	// DefaultEventsRingBufferBytes is the size of the host events' kernel
	// ring buffer.
	DefaultEventsRingBufferBytes = 4 << 20
	// DefaultEventsMaxArgs and DefaultEventsMaxArgBytes bound the argv an
	// exec event carries.
	DefaultEventsMaxArgs     = 64
	DefaultEventsMaxArgBytes = 4096
	// DefaultEventsMaxProcesses bounds the host events' process tree.
	DefaultEventsMaxProcesses = 65536
	// DefaultEventsReadEvery is how often the host events' reader looks at
	// the ring buffer while records come: an event waits at most this long
	// to be read, and every look costs the agent about as much as a few
	// dozen execs (docs/PERFORMANCE.md, "A look every 250 ms").
	DefaultEventsReadEvery = 250 * time.Millisecond
	// DefaultEventsExits: every process's end is a PROC.EXIT.
	DefaultEventsExits = EventsExitsAll

	// DefaultSummaryInterval is the length of the network sensor's
	// interval summaries.
	DefaultSummaryInterval = 10 * time.Second
	// DefaultMaxFlows bounds the network sensor's flow table.
	DefaultMaxFlows = 1 << 18
	// DefaultAttemptTimeout is how long the network sensor waits for an
	// answer before a connection attempt is unanswered.
	DefaultAttemptTimeout = 5 * time.Second

	// DefaultSubscriptionMaxRate is the reports a second a monitor takes
	// from one subscription, with bursts of DefaultSubscriptionBurst;
	// beyond, reports are acknowledged and not analysed (a flood).
	DefaultSubscriptionMaxRate = 200.0
	DefaultSubscriptionBurst   = 1000
	// MaxSubscriptionMaxRate and MaxSubscriptionBurst bound what a
	// resource object may set.
	MaxSubscriptionMaxRate = 1e6
	MaxSubscriptionBurst   = 1 << 24

	// DefaultBudgetCount actions in DefaultBudgetPer is each response
	// method's rate budget when the resolver section gives none.
	DefaultBudgetCount = 30
	DefaultBudgetPer   = time.Minute
	// DefaultActionTimeout bounds one execution or undo of a response.
	DefaultActionTimeout = 10 * time.Second
)

// DefaultAgentEvents is the host events section when a resource object
// gives none: off, and when turned on, watching credentials, persistence
// and log locations.
func DefaultAgentEvents() AgentEvents {
	return AgentEvents{
		RingBufferBytes: DefaultEventsRingBufferBytes,
		MaxArgs:         DefaultEventsMaxArgs,
		MaxArgBytes:     DefaultEventsMaxArgBytes,
		MaxProcesses:    DefaultEventsMaxProcesses,
		ReadEvery:       DefaultEventsReadEvery,
		Exits:           DefaultEventsExits,
		OpenPaths: []string{
			"/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/security/opasswd",
			"/etc/ssh/ssh_host_", "/root/.ssh/id_",
		},
		OpenNames: []string{"id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "id_ecdsa_sk", "id_ed25519_sk"},
		ModifyPaths: []string{
			"/etc/cron", "/var/spool/cron/", "/etc/anacrontab",
			"/etc/systemd/system/", "/etc/systemd/user/", "/lib/systemd/system/", "/usr/lib/systemd/system/",
			"/etc/init.d/", "/etc/rc.local", "/etc/profile", "/etc/bash.bashrc", "/etc/environment",
			"/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow", "/etc/sudoers",
			"/etc/ld.so.preload", "/etc/pam.d/", "/etc/ssh/sshd_config",
			"/root/.ssh/", "/var/log/",
		},
		ModifyNames: []string{
			"authorized_keys", "authorized_keys2", ".bash_history", ".zsh_history", ".sh_history",
			".bashrc", ".bash_profile", ".bash_login", ".bash_logout", ".profile", ".zshrc", ".zprofile",
		},
		PermPaths: []string{"/etc/", "/bin/", "/sbin/", "/usr/bin/", "/usr/sbin/", "/usr/local/bin/", "/usr/local/sbin/"},
		CredExes: []string{
			"/usr/bin/sudo", "/usr/bin/su", "/bin/su", "/usr/bin/doas", "/usr/bin/passwd", "/usr/bin/newgrp",
			"/usr/bin/chsh", "/usr/bin/chfn", "/usr/bin/gpasswd", "/usr/bin/mount", "/usr/bin/umount",
			"/usr/bin/fusermount", "/usr/bin/fusermount3", "/usr/lib/openssh/ssh-keysign",
		},
	}
}

// DefaultAgentEffector is the effector section when a resource object
// gives none: off; when turned on, protecting the processes a host needs to
// stay reachable and Vigil itself, at most 10 signals a minute and 3
// restarts in ten minutes, systemd units restarted only when named in
// restart or with units turned on.
func DefaultAgentEffector() AgentEffector {
	return AgentEffector{
		ProtectedNames: []string{"systemd", "init", "sshd", "sshd-session", "systemd-journald", "systemd-logind", "dbus-daemon", "dbus-broker", "vigil", "nats-server"},
		ProtectedUnits: []string{"ssh.service", "sshd.service", "dbus.service", "systemd-journald.service", "systemd-logind.service", "vigil.service"},
		Budgets: map[string]Budget{
			"signal":  {Count: 10, Per: time.Minute},
			"restart": {Count: 3, Per: 10 * time.Minute},
		},
		OutputBytes: DefaultEffectorOutputBytes,
		Remember:    DefaultEffectorRemember,
	}
}

const (
	// DefaultEffectorOutputBytes bounds the restart command output kept in
	// an effector's reply.
	DefaultEffectorOutputBytes = 4096
	// DefaultEffectorRemember is how long an effector remembers a request
	// id.
	DefaultEffectorRemember = time.Hour
)
