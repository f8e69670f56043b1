// Package config defines the resource object: the one YAML document that
// configures a monitor (seed 002 section 3.2) — its identity and layer, its
// event sources and subscriptions, its analysis engines, its resolver and
// response methods, its bus connection or embedded bus server, and its
// store.
//
// Loading is strict: an unknown key, a value of the wrong type or an invalid
// setting is a problem, every problem is collected, and all of them are
// reported at once with file:line:column. Engines and response methods
// register their own sections through the Kinds interface, so this package
// knows nothing of any particular engine.
package config

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/netspec"
	"github.com/vigil-ids/vigil/internal/yamlnode"
)

// ResourceObject is a monitor's whole configuration.
type ResourceObject struct {
	Monitor       Monitor        `yaml:"monitor"`
	Bus           BusClient      `yaml:"bus"`
	Server        BusServer      `yaml:"server"`
	Sources       []Source       `yaml:"sources"`
	Subscriptions []Subscription `yaml:"subscriptions"`
	Engines       []PluginSpec   `yaml:"engines"`
	Resolver      Resolver       `yaml:"resolver"`
	Responses     []PluginSpec   `yaml:"responses"`
	Store         Store          `yaml:"store"`
	Agent         Agent          `yaml:"agent"`
	NetSensor     NetSensor      `yaml:"netsensor"`

	// File is the file the object was loaded from.
	File string `yaml:"-"`
	// pos holds every key's position in File, for problems found
	// across several objects (CheckHierarchy).
	pos map[string]yamlnode.Pos
}

// Position is where path (or the nearest enclosing key the file gives) is
// in the object's file; 0, 0 when unknown.
func (ro *ResourceObject) Position(path string) (line, col int) {
	for p := path; ; p = parentPath(p) {
		if at, ok := ro.pos[p]; ok {
			return at.Line, at.Col
		}
		if p == "" {
			return 0, 0
		}
	}
}

// Monitor is the monitor's identity.
type Monitor struct {
	// Name identifies the monitor on the bus: its reports go to
	// vigil.report.<name>, its durable consumers are named after it.
	Name string `yaml:"name"`
	// Layer is where it sits in the hierarchy: service, domain or
	// enterprise (seed 002 section 4).
	Layer string `yaml:"layer"`
	// DedupWindow is how many recent event ids the monitor remembers to
	// drop redelivered events before they reach the engines.
	DedupWindow int `yaml:"dedup_window"`
	// Parent is the monitor one layer up whose configuration requests
	// and probes this one takes ("" for the root of the hierarchy).
	Parent string `yaml:"parent"`
	// Peers are monitors of the same layer whose sensitise requests this
	// one takes too (seed 002 section 4: peer domains).
	Peers []string `yaml:"peers"`
	// Children are the monitors one layer down whose heartbeats this one
	// watches (alive, stale, lost), beside those it subscribes to.
	Children []string `yaml:"children"`
	// Heartbeat says how often the monitor announces it is alive on
	// vigil.hb.<name>, and when a silent child counts as stale and lost.
	Heartbeat Heartbeat `yaml:"heartbeat"`
}

// Heartbeat configures the "I'm alive" messages (seed 002 section 3.6).
type Heartbeat struct {
	// Interval between heartbeats (default 2 s).
	Interval time.Duration `yaml:"interval"`
	// StaleAfter and LostAfter are how many intervals without a heartbeat
	// make a child stale, then lost (defaults 2 and 3).
	StaleAfter int `yaml:"stale_after"`
	LostAfter  int `yaml:"lost_after"`
}

// Heartbeat defaults.
const (
	DefaultHeartbeatInterval   = 2 * time.Second
	DefaultHeartbeatStaleAfter = 2
	DefaultHeartbeatLostAfter  = 3
)

// BusClient says how to reach the bus. An empty URL means the embedded
// server of this process.
type BusClient struct {
	URL          string    `yaml:"url"`
	User         string    `yaml:"user"`
	Password     string    `yaml:"password"`
	PasswordFile string    `yaml:"password_file"`
	Creds        string    `yaml:"creds"`    // a NATS credentials file (JWT and seed)
	Identity     string    `yaml:"identity"` // an identity file (user and password) a Vigil monitor wrote
	NKey         string    `yaml:"nkey"`     // a file holding an NKey seed
	TLS          ClientTLS `yaml:"tls"`
}

// ClientTLS is the client side of TLS to the bus.
type ClientTLS struct {
	CA         string `yaml:"ca"`   // CA bundle that signs the server (empty: system roots)
	Cert       string `yaml:"cert"` // client certificate, when the server verifies clients
	Key        string `yaml:"key"`
	ServerName string `yaml:"server_name"`
	// CRL, with ca the certificate of Vigil's CA, admits only a server
	// whose monitor certificate is not on it (read again every 30 s; no
	// server is admitted while it is missing or stale).
	CRL string `yaml:"crl"`
}

// BusServer configures the embedded NATS server (vigil up, vigil monitor
// --bus-listen).
type BusServer struct {
	Listen string    `yaml:"listen"`
	TLS    ServerTLS `yaml:"tls"`
	Users  []BusUser `yaml:"users"`
	// AllowInsecure permits listening on a non-loopback address without
	// TLS and credentials. Off by default.
	AllowInsecure bool      `yaml:"allow_insecure"`
	JetStream     JetStream `yaml:"jetstream"`
	// Leaf joins this bus to others as NATS leaf nodes: a domain's bus
	// dials out to the enterprise's (remotes); the enterprise's accepts
	// them (listen). See docs/BUS.md.
	Leaf LeafNodes `yaml:"leaf"`
	// Monitors narrow what monitors' certificates allow on a bus with
	// mutual TLS: the children a monitor may send configuration requests
	// to, and the hosts whose effectors and agents it may ask (docs/BUS.md).
	Monitors []BusMonitorScope `yaml:"monitors"`
}

// LeafNodes are the leaf-node links of the embedded server.
type LeafNodes struct {
	// Listen accepts leaf connections from other buses (an enterprise
	// bus); mutual TLS with the server's tls section off loopback.
	Listen string `yaml:"listen"`
	// Remotes are the buses this one dials out to (a domain's bus: no
	// inbound port at the site).
	Remotes []LeafRemote `yaml:"remotes"`
}

// LeafRemote is one bus a leaf node dials out to.
type LeafRemote struct {
	URL string    `yaml:"url"`
	TLS ClientTLS `yaml:"tls"`
}

// BusMonitorScope is one monitor's reach on the bus. No children and no
// peers: it asks no monitor but itself (configuration requests to its
// children and peers, probes to its children); no hosts: it owns every
// host.
type BusMonitorScope struct {
	Name     string   `yaml:"name"`
	Children []string `yaml:"children"`
	Peers    []string `yaml:"peers"`
	Hosts    []string `yaml:"hosts"`
}

// ServerTLS is the server side of TLS.
type ServerTLS struct {
	Cert     string `yaml:"cert"`
	Key      string `yaml:"key"`
	ClientCA string `yaml:"client_ca"` // when set, clients must present a certificate it signs
	// CRL is the revocation list of the client CA (Vigil's CA,
	// internal/pki), needed with client_ca: a client certificate is its
	// identity, checked against the CRL, read again every CRLRefresh
	// (30 s when zero).
	CRL        string        `yaml:"crl"`
	CRLRefresh time.Duration `yaml:"crl_refresh"`
}

// BusUser is one identity allowed on the embedded server, with the
// subjects it may publish and subscribe to (empty: all).
type BusUser struct {
	User      string   `yaml:"user"`
	Password  string   `yaml:"password"` // plain, or a bcrypt hash ("$2a$...")
	Publish   []string `yaml:"publish"`
	Subscribe []string `yaml:"subscribe"`
	// AllowResponses lets the identity answer the requests it receives
	// (a remote agent's effector).
	AllowResponses bool `yaml:"allow_responses"`
}

// JetStream limits the embedded server's durable streams.
type JetStream struct {
	MaxBytes int64         `yaml:"max_bytes"` // per stream; 0: 1 GiB
	MaxAge   time.Duration `yaml:"max_age"`   // how long observations are kept on the bus; 0: 24h
	// Domain is the JetStream domain of this bus (each site of a leaf-node
	// hierarchy has its own, so its streams stay its own); "" for none.
	Domain string `yaml:"domain"`
}

// Source is one event stream the monitor consumes from the bus.
type Source struct {
	Name     string   `yaml:"name"`
	Subjects []string `yaml:"subjects"`
	// Delivery is "durable" (a JetStream consumer: a restarted monitor
	// resumes where it stopped, nothing lost) or "core" (plain NATS: at
	// most once, the lowest latency). Default durable.
	Delivery string `yaml:"delivery"`
	Filter   Filter `yaml:"filter"`
}

// Delivery modes of a source.
const (
	DeliveryDurable = "durable"
	DeliveryCore    = "core"
)

// Filter keeps or drops events before the engines see them (EMERALD's
// event-collection filters). Type patterns may end in "*".
type Filter struct {
	Types        []string `yaml:"types"`
	ExcludeTypes []string `yaml:"exclude_types"`
	Hosts        []string `yaml:"hosts"`
}

// Subscription is another monitor whose reports this one consumes
// (EMERALD's subscription list).
type Subscription struct {
	Monitor     string   `yaml:"monitor"`
	MinSeverity Severity `yaml:"min_severity"`
	// Domain is the JetStream domain of the bus the monitor's reports are
	// stored on, when it is another site's joined by a leaf node ("": this
	// bus). The durable consumer lives there, so nothing is lost while
	// the link is down.
	Domain string `yaml:"domain"`
	// MaxRate is the reports a second taken from the monitor, with
	// bursts of Burst (defaults DefaultSubscriptionMaxRate and
	// DefaultSubscriptionBurst); beyond, reports are acknowledged and not
	// analysed, counted and summarised in MONITOR.FLOOD events.
	MaxRate float64 `yaml:"max_rate"`
	Burst   int     `yaml:"burst"`
}

// PluginSpec is an engine or a response method: its kind, its instance
// name, and the kind's own settings, decoded and validated by the type
// the kind registered.
type PluginSpec struct {
	Kind string
	Name string
	// ReportsFrom names engines of the same monitor whose reports this
	// engine also receives, as events of type REPORT (an engine's
	// conclusions become another's observations). Engines only.
	ReportsFrom []string
	Settings    Settings
	node        *yaml.Node
}

// ReadYAML keeps the node so that the loader can decode the settings
// once it knows the kind.
func (s *PluginSpec) ReadYAML(r *yamlnode.Reader, n *yaml.Node, path string) {
	if !r.Mapping(n, path, "a mapping with a \"kind\"") {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		kp := yamlnode.Join(path, k.Value)
		if r.Pos != nil {
			r.Pos[kp] = yamlnode.Pos{Line: k.Line, Col: k.Column}
		}
		switch k.Value {
		case "reports_from":
			if v = yamlnode.Resolve(v); v.Kind != yaml.SequenceNode {
				r.Addf(v, kp, "want a list of engine names, not %s", yamlnode.Describe(v))
				continue
			}
			s.ReportsFrom = r.Strings(v, kp)
		case "kind":
			s.Kind = r.String(v, kp)
		case "name":
			s.Name = r.String(v, kp)
		}
	}
	s.node = n
}

// Severity is a severity name in a resource object: green, yellow or red.
type Severity event.Severity

// ReadYAML reads a severity name.
func (s *Severity) ReadYAML(r *yamlnode.Reader, n *yaml.Node, path string) {
	if v, ok := r.Severity(n, path); ok {
		*s = Severity(v)
	}
}

// Of returns the event severity.
func (s Severity) Of() event.Severity { return event.Severity(s) }

// Store configures the SQLite history.
type Store struct {
	// Retention deletes events and reports older than this; 0 keeps all.
	Retention     time.Duration `yaml:"retention"`
	BatchSize     int           `yaml:"batch_size"`
	FlushInterval time.Duration `yaml:"flush_interval"`
}

// Agent configures the host sensor (vigil agent, and the local agent of
// vigil up): what it samples, how often, and how sensitive its evaluator is.
type Agent struct {
	// Interval between samples of /proc.
	Interval time.Duration `yaml:"interval"`
	// Window is how many samples the running averages span.
	Window int `yaml:"window"`
	// Procs limits process monitoring to these names; empty means all.
	Procs []string `yaml:"procs"`
	// Exclude removes process names from monitoring.
	Exclude []string `yaml:"exclude"`
	// Thresholds override the evaluator's slope thresholds, by event type.
	Thresholds map[string]Threshold `yaml:"thresholds"`
	// HostID and IP override what the agent finds itself.
	HostID string `yaml:"host_id"`
	IP     string `yaml:"ip"`
	// Proc is the root of the proc filesystem (for tests and containers).
	Proc string `yaml:"proc"`
	// SpoolDir holds observations waiting for the bus; SpoolMaxBytes
	// bounds it (the oldest are dropped, and counted, beyond it).
	SpoolDir      string `yaml:"spool_dir"`
	SpoolMaxBytes int64  `yaml:"spool_max_bytes"`
	// TimerSlack is how late the kernel may end the `vigil agent`
	// process's sleeps and timed waits (its threads' timer slack), so
	// that it can end several with one wakeup; 0 keeps the kernel's
	// default (50 µs).
	TimerSlack time.Duration `yaml:"timer_slack"`
	// MaxProcs is how many threads may run the `vigil agent` process's Go
	// code at once (its GOMAXPROCS); 0 leaves the Go runtime's choice (the
	// GOMAXPROCS environment variable, else the CPUs it may use).
	MaxProcs int `yaml:"max_procs"`
	// Syscalls configures the eBPF system call counter.
	Syscalls AgentSyscalls `yaml:"syscalls"`
	// Levels configures the level observations (PROC.CPU.LEVEL,
	// PROC.MEM.LEVEL).
	Levels AgentLevels `yaml:"levels"`
	// Events configures the eBPF host security events.
	Events AgentEvents `yaml:"events"`
	// Effector configures the effector: acting on this host's processes
	// and services at a monitor's request.
	Effector AgentEffector `yaml:"effector"`
}

// AgentLevels configures the host sensor's level observations: a process
// holding CPU or memory at or above a level for a time is reported once it
// has, again at most every Repeat while it goes on, and once when it ends.
// A level of 0 turns its observation off.
type AgentLevels struct {
	// CPU is the level in percent of one core (a process with several
	// busy threads may exceed 100); CPUFor how long it must hold.
	CPU    float64       `yaml:"cpu_pct"`
	CPUFor time.Duration `yaml:"cpu_for"`
	// Mem is the level in percent of the host's memory, MemMB in MB
	// resident; either one reached counts. MemFor is how long it must hold.
	Mem    float64       `yaml:"mem_pct"`
	MemMB  float64       `yaml:"mem_mb"`
	MemFor time.Duration `yaml:"mem_for"`
	// Repeat is the least time between two reports of one level that goes
	// on.
	Repeat time.Duration `yaml:"repeat"`
}

// AgentEvents configures the host sensor's eBPF security events (vigil
// agent --events): process execs and exits, watched files, privilege gains,
// injection and network connections, each with its process. The path
// prefixes and file names are filters applied in the kernel.
type AgentEvents struct {
	// Enabled turns the event programs on.
	Enabled bool `yaml:"enabled"`
	// RingBufferBytes is the size of the kernel ring buffer records wait in
	// (a power of two, at least 4096); records that find it full are
	// counted and reported.
	RingBufferBytes int `yaml:"ring_buffer_bytes"`
	// MaxArgs and MaxArgBytes bound the argv kept of an exec.
	MaxArgs     int `yaml:"max_args"`
	MaxArgBytes int `yaml:"max_arg_bytes"`
	// MaxProcesses bounds the user-space process tree.
	MaxProcesses int `yaml:"max_processes"`
	// ReadEvery is how often the reader looks at the ring buffer while
	// records come (the kernel wakes it at the first record after a quiet
	// look, and when a sixteenth of the buffer waits): the longest an
	// event waits to be read, against the cost of each look.
	ReadEvery time.Duration `yaml:"read_every"`
	// Exits says which processes' ends are PROC.EXIT observations:
	// EventsExitsAll, EventsExitsSignalled (ended by a signal) or
	// EventsExitsNone. The process tree is kept by every end either way;
	// an exec makes three observations with all, two without its exit.
	Exits string `yaml:"exits"`
	// OpenPaths and OpenNames: opens for reading of files under these path
	// prefixes, or with these names, are FILE.OPEN events.
	OpenPaths []string `yaml:"open_paths"`
	OpenNames []string `yaml:"open_names"`
	// ModifyPaths and ModifyNames: writes, truncations, renames, unlinks,
	// chmod and chown of these are FILE.MODIFY (or FILE.PERM) events.
	ModifyPaths []string `yaml:"modify_paths"`
	ModifyNames []string `yaml:"modify_names"`
	// PermPaths: chmod and chown of files under these are FILE.PERM events
	// (setting a setuid or setgid bit is one anywhere).
	PermPaths []string `yaml:"perm_paths"`
	// CredExes are the executables through which a process may gain root
	// without a PROC.CRED event (sudo, su, ...).
	CredExes []string `yaml:"cred_exes"`
}

// AgentSyscalls configures the host sensor's eBPF system call counter
// (vigil agent --syscalls): per-process count vectors every interval.
type AgentSyscalls struct {
	// Enabled turns the counter on.
	Enabled bool `yaml:"enabled"`
	// Interval is the length of each count vector's interval.
	Interval time.Duration `yaml:"interval"`
	// MapEntries bounds each kernel count map: the (process, system call)
	// pairs one interval can hold; beyond it calls are lost and reported.
	MapEntries int `yaml:"map_entries"`
	// Procs limits the vectors to these process names (empty: all);
	// Exclude leaves these out.
	Procs   []string `yaml:"procs"`
	Exclude []string `yaml:"exclude"`
}

// NetSensor configures the network sensor of a gateway (vigil netsensor):
// flow state, record budgets, summaries, the site's services and the event
// streams records are tagged with (seed 004 section 3).
type NetSensor struct {
	// ID names the sensor (the source of its records; default the hostname).
	ID              string        `yaml:"id"`
	SummaryInterval time.Duration `yaml:"summary_interval"`
	MaxFlows        int           `yaml:"max_flows"`
	AttemptTimeout  time.Duration `yaml:"attempt_timeout"`
	TCPIdle         time.Duration `yaml:"tcp_idle"`
	UDPIdle         time.Duration `yaml:"udp_idle"`
	RecordBudget    int           `yaml:"record_budget"`
	MaxSubjects     int           `yaml:"max_subjects"`
	Subjects        []string      `yaml:"subjects"`
	// Services the site runs ("10.0.0.3:8000/tcp", "*:53/udp"); traffic to
	// other ports is the unassigned stream.
	Services []string `yaml:"services"`
	// Internal are the site's networks ("10.0.0.0/8"): records carry their
	// direction (inbound: the pass-through traffic), streams select by it.
	Internal      []string `yaml:"internal"`
	Streams       []Stream `yaml:"streams"`
	BannerBytes   int      `yaml:"banner_bytes"`
	SpoolDir      string   `yaml:"spool_dir"`
	SpoolMaxBytes int64    `yaml:"spool_max_bytes"`
}

// Stream is a named selection of traffic: every criterion given must hold.
type Stream struct {
	Name       string   `yaml:"name"`
	Protocols  []string `yaml:"protocols"`
	Src        []string `yaml:"src"`
	Dst        []string `yaml:"dst"`
	Ports      []int    `yaml:"ports"`
	Flags      []string `yaml:"flags"`
	Unassigned bool     `yaml:"unassigned"`
	Apps       []string `yaml:"apps"`
	// Direction: inbound (pass-through), outbound, internal or external,
	// relative to the internal networks.
	Direction string `yaml:"direction"`
}

func (n *NetSensor) validate(p *Problems, path string) {
	pos := func(field string, d time.Duration) {
		if d < 0 {
			p.Addf(Join(path, field), "must not be negative")
		}
	}
	pos("summary_interval", n.SummaryInterval)
	pos("attempt_timeout", n.AttemptTimeout)
	pos("tcp_idle", n.TCPIdle)
	pos("udp_idle", n.UDPIdle)
	if n.SummaryInterval != 0 && n.SummaryInterval < time.Second {
		p.Addf(Join(path, "summary_interval"), "must be at least 1s")
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"max_flows", n.MaxFlows}, {"record_budget", n.RecordBudget}, {"max_subjects", n.MaxSubjects}, {"banner_bytes", n.BannerBytes}} {
		if f.v < 0 {
			p.Addf(Join(path, f.name), "must not be negative")
		}
	}
	if n.BannerBytes > 4096 {
		p.Addf(Join(path, "banner_bytes"), "at most 4096")
	}
	for i, k := range n.Subjects {
		switch k {
		case "gateway", "src", "dst", "service", "stream":
		default:
			p.Addf(Index(Join(path, "subjects"), i), "unknown subject kind %q (want gateway, src, dst, service or stream)", k)
		}
	}
	for i, s := range n.Services {
		if _, err := netspec.ParseService(s); err != nil {
			p.Addf(Index(Join(path, "services"), i), "%v", err)
		}
	}
	for i, a := range n.Internal {
		if _, err := netspec.ParsePrefix(a); err != nil {
			p.Addf(Index(Join(path, "internal"), i), "%v", err)
		}
	}
	names := map[string]bool{}
	for i, st := range n.Streams {
		sp := Index(Join(path, "streams"), i)
		switch st.Direction {
		case "", "inbound", "outbound", "internal", "external":
			if st.Direction != "" && len(n.Internal) == 0 {
				p.Addf(Join(sp, "direction"), "a direction needs the internal networks (netsensor.internal)")
			}
		default:
			p.Addf(Join(sp, "direction"), "unknown direction %q (want inbound, outbound, internal or external)", st.Direction)
		}
		if st.Name == "" {
			p.Addf(sp, "missing %q", "name")
		} else if names[st.Name] {
			p.Addf(Join(sp, "name"), "stream %q defined twice", st.Name)
		}
		names[st.Name] = true
		for j, pr := range st.Protocols {
			if _, err := netspec.ParseProto(pr); err != nil {
				p.Addf(Index(Join(sp, "protocols"), j), "%v", err)
			}
		}
		for _, l := range []struct {
			name string
			list []string
		}{{"src", st.Src}, {"dst", st.Dst}} {
			for j, a := range l.list {
				if _, err := netspec.ParsePrefix(a); err != nil {
					p.Addf(Index(Join(sp, l.name), j), "%v", err)
				}
			}
		}
		for j, port := range st.Ports {
			if port < 1 || port > 65535 {
				p.Addf(Index(Join(sp, "ports"), j), "port %d out of range", port)
			}
		}
		for j, f := range st.Flags {
			if _, err := netspec.ParseFlags(f); err != nil {
				p.Addf(Index(Join(sp, "flags"), j), "%v", err)
			}
		}
		for j, a := range st.Apps {
			switch a {
			case "http", "ftp", "smtp", "dns", "banner":
			default:
				p.Addf(Index(Join(sp, "apps"), j), "unknown application %q (want http, ftp, smtp, dns or banner)", a)
			}
		}
	}
}

// Threshold is how far a new sample must exceed the running average to
// be reported: by more than Abs (in the metric's unit) and by more than
// Rel times the average.
type Threshold struct {
	Abs float64 `yaml:"abs"`
	Rel float64 `yaml:"rel"`
}

// Default returns the defaults every resource object starts from.
func Default() *ResourceObject {
	return &ResourceObject{
		Monitor: Monitor{Layer: "service", DedupWindow: 1 << 16,
			Heartbeat: Heartbeat{Interval: DefaultHeartbeatInterval, StaleAfter: DefaultHeartbeatStaleAfter, LostAfter: DefaultHeartbeatLostAfter}},
		Server: BusServer{
			Listen:    DefaultBusListen,
			JetStream: JetStream{MaxBytes: 1 << 30, MaxAge: 24 * time.Hour},
		},
		Resolver: DefaultResolver(),
		Store:    Store{Retention: 7 * 24 * time.Hour, BatchSize: 16384, FlushInterval: 5 * time.Millisecond},
		Agent: Agent{Interval: DefaultAgentInterval, Window: DefaultAgentWindow, Proc: DefaultProc, SpoolMaxBytes: DefaultSpoolMaxBytes,
			TimerSlack: DefaultAgentTimerSlack, MaxProcs: DefaultAgentMaxProcs,
			Syscalls: AgentSyscalls{Interval: DefaultSyscallInterval, MapEntries: DefaultSyscallMapEntries},
			Levels:   DefaultLevels(),
			Events:   DefaultAgentEvents(), Effector: DefaultAgentEffector()},
	}
}

// DefaultLevels are the agent's level settings when nothing sets them.
func DefaultLevels() AgentLevels {
	return AgentLevels{CPU: DefaultCPULevel, CPUFor: DefaultCPULevelFor, Mem: DefaultMemLevel, MemFor: DefaultMemLevelFor, Repeat: DefaultLevelRepeat}
}

// DefaultSource is the source a monitor uses when its resource object names
// none: every observation, durably.
func DefaultSource() Source {
	return Source{Name: "observations", Subjects: []string{bus.AllObs}, Delivery: DeliveryDurable}
}

// validate checks every section; needName says a monitor name is
// required (not for a sensor's object without one).
func (ro *ResourceObject) validate(p *Problems, needName bool) {
	m := &ro.Monitor
	if m.Name == "" {
		if needName {
			p.Addf("monitor.name", "missing: every monitor needs a name")
		}
	} else if err := checkToken(m.Name); err != nil {
		p.Addf("monitor.name", "%v", err)
	}
	switch m.Layer {
	case "service", "domain", "enterprise":
	default:
		p.Addf("monitor.layer", "unknown layer %q (want service, domain or enterprise)", m.Layer)
	}
	if m.DedupWindow < 0 {
		p.Addf("monitor.dedup_window", "must not be negative")
	}
	m.validateHierarchy(p)
	ro.Bus.validate(p, "bus")
	ro.Server.validate(p, "server")
	if len(ro.Sources) == 0 && len(ro.Subscriptions) == 0 {
		ro.Sources = []Source{DefaultSource()}
	}
	names := map[string]bool{}
	for i := range ro.Sources {
		s := &ro.Sources[i]
		path := Index("sources", i)
		if s.Delivery == "" {
			s.Delivery = DeliveryDurable
		}
		if s.Name == "" {
			p.Addf(path, "missing %q", "name")
		} else if err := checkToken(s.Name); err != nil {
			p.Addf(Join(path, "name"), "%v", err)
		} else if names[s.Name] {
			p.Addf(Join(path, "name"), "source %q defined twice", s.Name)
		}
		names[s.Name] = true
		if len(s.Subjects) == 0 {
			p.Addf(path, "missing %q: which bus subjects to consume", "subjects")
		}
		for j, subj := range s.Subjects {
			spath := Index(Join(path, "subjects"), j)
			if err := checkSubject(subj); err != nil {
				p.Addf(spath, "%v", err)
				continue
			}
			if s.Delivery == DeliveryDurable && !inDurableSpace(subj) {
				p.Addf(spath, "subject %q is not kept in a durable stream (those hold %s); use delivery: core", subj, strings.Join(bus.DurableSpaces, "*, ")+"*")
			}
		}
		switch s.Delivery {
		case DeliveryDurable, DeliveryCore:
		default:
			p.Addf(Join(path, "delivery"), "unknown delivery %q (want durable or core)", s.Delivery)
		}
		for _, list := range []struct {
			name string
			pats []string
		}{{"types", s.Filter.Types}, {"exclude_types", s.Filter.ExcludeTypes}} {
			for j, pat := range list.pats {
				if err := event.CheckType(strings.TrimSuffix(strings.TrimSuffix(pat, "*"), ".")); err != nil && pat != "*" {
					p.Addf(Index(Join(path, "filter."+list.name), j), "bad type pattern %q: %v", pat, err)
				}
			}
		}
	}
	subs := map[string]bool{}
	for i := range ro.Subscriptions {
		s := &ro.Subscriptions[i]
		path := Index("subscriptions", i)
		s.validateRate(p, path)
		switch err := checkToken(s.Monitor); {
		case s.Monitor == "":
			p.Addf(path, "missing %q", "monitor")
		case err != nil:
			p.Addf(Join(path, "monitor"), "%v", err)
		case s.Monitor == m.Name:
			p.Addf(Join(path, "monitor"), "a monitor cannot subscribe to itself")
		case subs[s.Monitor]:
			p.Addf(Join(path, "monitor"), "subscribed twice to %q", s.Monitor)
		case s.Monitor == m.Parent:
			p.Addf(Join(path, "monitor"), "%q is this monitor's parent; reports flow up to the parent, not down from it", s.Monitor)
		}
		subs[s.Monitor] = true
		if s.Domain != "" {
			if err := checkDomain(s.Domain); err != nil {
				p.Addf(Join(path, "domain"), "%v", err)
			}
		}
	}
	validatePlugins(p, "engines", ro.Engines)
	validatePlugins(p, "responses", ro.Responses)
	ro.Resolver.validate(p, "resolver", ro.Responses)
	ro.Agent.validate(p, "agent")
	ro.NetSensor.validate(p, "netsensor")
	if ro.Store.Retention < 0 {
		p.Addf("store.retention", "must not be negative")
	}
	if ro.Store.BatchSize <= 0 || ro.Store.BatchSize > 1<<20 {
		p.Addf("store.batch_size", "must be between 1 and %d", 1<<20)
	}
	if ro.Store.FlushInterval <= 0 || ro.Store.FlushInterval > time.Minute {
		p.Addf("store.flush_interval", "must be between 1ns and 1m")
	}
}

// validateRate applies the rate defaults and checks the bounds.
func (s *Subscription) validateRate(p *Problems, path string) {
	if s.MaxRate == 0 {
		s.MaxRate = DefaultSubscriptionMaxRate
	}
	if s.Burst == 0 {
		s.Burst = DefaultSubscriptionBurst
	}
	if math.IsNaN(s.MaxRate) || s.MaxRate < 0 || s.MaxRate > MaxSubscriptionMaxRate {
		p.Addf(Join(path, "max_rate"), "%v reports a second is not in (0, %g]", s.MaxRate, MaxSubscriptionMaxRate)
	}
	if s.Burst < 0 || s.Burst > MaxSubscriptionBurst {
		p.Addf(Join(path, "burst"), "%d reports is not in [1, %d]", s.Burst, MaxSubscriptionBurst)
	}
}

func validatePlugins(p *Problems, section string, specs []PluginSpec) {
	names := map[string]bool{}
	for i := range specs {
		s := &specs[i]
		if s.Name == "" {
			s.Name = s.Kind
		}
		path := Index(section, i)
		if err := checkToken(s.Name); s.Name != "" && err != nil {
			p.Addf(Join(path, "name"), "%v", err)
		} else if names[s.Name] {
			p.Addf(Join(path, "name"), "name %q used twice in %s; give each a distinct name", s.Name, section)
		}
		names[s.Name] = true
	}
}

func (a *Agent) validate(p *Problems, path string) {
	if a.Interval < 100*time.Millisecond || a.Interval > time.Hour {
		p.Addf(Join(path, "interval"), "must be between 100ms and 1h")
	}
	if a.Window < 1 || a.Window > 1000 {
		p.Addf(Join(path, "window"), "must be between 1 and 1000 samples")
	}
	for typ, t := range a.Thresholds {
		if !thresholdTypes[typ] {
			p.Addf(Join(path, "thresholds."+typ), "no threshold applies to %q (known: %s)", typ, strings.Join(sortedKeys(thresholdTypes), ", "))
		}
		if t.Abs < 0 || t.Rel < 0 {
			p.Addf(Join(path, "thresholds."+typ), "abs and rel must not be negative")
		}
	}
	if a.IP != "" && net.ParseIP(a.IP) == nil {
		p.Addf(Join(path, "ip"), "not an IP address: %q", a.IP)
	}
	if a.SpoolMaxBytes < 1<<20 {
		p.Addf(Join(path, "spool_max_bytes"), "must be at least 1 MiB")
	}
	if a.TimerSlack < 0 || a.TimerSlack > 100*time.Millisecond {
		p.Addf(Join(path, "timer_slack"), "must be between 0s (the kernel's default) and 100ms, not %s", a.TimerSlack)
	}
	if a.MaxProcs < 0 || a.MaxProcs > 1024 {
		p.Addf(Join(path, "max_procs"), "must be between 0 (the Go runtime's choice) and 1024, not %d", a.MaxProcs)
	}
	if s := a.Syscalls; s.Interval < 10*time.Millisecond || s.Interval > time.Hour {
		p.Addf(Join(path, "syscalls.interval"), "must be between 10ms and 1h")
	}
	if s := a.Syscalls; s.MapEntries < 16 || s.MapEntries > 1<<22 {
		p.Addf(Join(path, "syscalls.map_entries"), "must be between 16 and 4194304")
	}
	a.Levels.validate(p, Join(path, "levels"))
	a.Events.validate(p, Join(path, "events"))
	a.Effector.validate(p, Join(path, "effector"))
}

func (l *AgentLevels) validate(p *Problems, path string) {
	if l.CPU < 0 || l.CPU > 100000 || math.IsNaN(l.CPU) {
		p.Addf(Join(path, "cpu_pct"), "must be between 0 (off) and 100000 percent of one core")
	}
	if l.Mem < 0 || l.Mem > 100 || math.IsNaN(l.Mem) {
		p.Addf(Join(path, "mem_pct"), "must be between 0 (off) and 100 percent of memory")
	}
	if l.MemMB < 0 || math.IsNaN(l.MemMB) || math.IsInf(l.MemMB, 0) {
		p.Addf(Join(path, "mem_mb"), "must be 0 (off) or a positive number of MB")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"cpu_for", l.CPUFor}, {"mem_for", l.MemFor}} {
		if d.v < 0 || d.v > 24*time.Hour {
			p.Addf(Join(path, d.name), "must be between 0s and 24h")
		}
	}
	if l.Repeat < time.Second || l.Repeat > 24*time.Hour {
		p.Addf(Join(path, "repeat"), "must be between 1s and 24h")
	}
}

// thresholdTypes are the observation types with a slope threshold (read
// only).
var thresholdTypes = map[string]bool{
	"PROC.MEM": true, "PROC.CPU": true, "SYS.DISK.IO": true, "SYS.NET.RX": true, "SYS.NET.TX": true,
	"SYS.MEM": true, "SYS.CPU": true, "SYS.PROCS.GROWTH": true, "SYS.NET.SOCKS.GROWTH": true,
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (b *BusClient) validate(p *Problems, path string) {
	if b.URL != "" {
		for _, u := range strings.Split(b.URL, ",") {
			pu, err := url.Parse(strings.TrimSpace(u))
			if err != nil || pu.Host == "" {
				p.Addf(Join(path, "url"), "bad bus URL %q (want nats://host:port or tls://host:port)", u)
				continue
			}
			switch pu.Scheme {
			case "nats", "tls", "ws", "wss":
			default:
				p.Addf(Join(path, "url"), "unsupported scheme %q in %q", pu.Scheme, u)
			}
		}
	}
	if b.Password != "" && b.PasswordFile != "" {
		p.Addf(Join(path, "password_file"), "give password or password_file, not both")
	}
	if (b.Password != "" || b.PasswordFile != "") && b.User == "" {
		p.Addf(Join(path, "user"), "a password needs a user")
	}
	auth := 0
	for _, set := range []bool{b.User != "", b.Creds != "", b.NKey != "", b.Identity != ""} {
		if set {
			auth++
		}
	}
	if auth > 1 {
		p.Addf(path, "give one of user, creds, nkey or identity")
	}
	for _, f := range []struct{ name, file string }{
		{"password_file", b.PasswordFile}, {"creds", b.Creds}, {"nkey", b.NKey}, {"identity", b.Identity},
		{"tls.ca", b.TLS.CA}, {"tls.cert", b.TLS.Cert}, {"tls.key", b.TLS.Key},
	} {
		checkFile(p, Join(path, f.name), f.file)
	}
	if (b.TLS.Cert == "") != (b.TLS.Key == "") {
		p.Addf(Join(path, "tls"), "a client certificate needs both cert and key")
	}
	if b.TLS.CRL != "" && b.TLS.CA == "" {
		p.Addf(Join(path, "tls.crl"), "a CRL needs tls.ca, the CA that signed it")
	}
}

func (s *BusServer) validate(p *Problems, path string) {
	host, port, err := net.SplitHostPort(s.Listen)
	if err != nil {
		p.Addf(Join(path, "listen"), "want host:port, got %q", s.Listen)
	} else if _, err := net.LookupPort("tcp", port); err != nil {
		p.Addf(Join(path, "listen"), "bad port %q", port)
	}
	if (s.TLS.Cert == "") != (s.TLS.Key == "") {
		p.Addf(Join(path, "tls"), "a server certificate needs both cert and key")
	}
	if s.TLS.ClientCA != "" && s.TLS.Cert == "" {
		p.Addf(Join(path, "tls.client_ca"), "verifying clients needs the server's own cert and key")
	}
	if s.TLS.ClientCA != "" && s.TLS.CRL == "" {
		p.Addf(Join(path, "tls.crl"), "missing: client certificates (tls.client_ca) are checked against the CA's CRL (pki/crl.pem)")
	}
	if s.TLS.CRL != "" && s.TLS.ClientCA == "" {
		p.Addf(Join(path, "tls.crl"), "a CRL needs tls.client_ca, the CA that signed it")
	}
	if s.TLS.CRLRefresh < 0 {
		p.Addf(Join(path, "tls.crl_refresh"), "must not be negative")
	}
	monitors := map[string]bool{}
	for i, m := range s.Monitors {
		mpath := Index(Join(path, "monitors"), i)
		switch {
		case m.Name == "":
			p.Addf(mpath, "missing %q", "name")
		case monitors[m.Name]:
			p.Addf(Join(mpath, "name"), "monitor %q listed twice", m.Name)
		}
		monitors[m.Name] = true
		for _, l := range []struct {
			key   string
			names []string
		}{{"children", m.Children}, {"peers", m.Peers}} {
			for j, n := range l.names {
				if err := checkToken(n); err != nil {
					p.Addf(Index(Join(mpath, l.key), j), "%v", err)
				} else if n == m.Name {
					p.Addf(Index(Join(mpath, l.key), j), "a monitor is not its own %s", strings.TrimSuffix(strings.TrimSuffix(l.key, "ren"), "s"))
				}
			}
		}
	}
	for _, f := range []struct{ name, file string }{{"tls.cert", s.TLS.Cert}, {"tls.key", s.TLS.Key}, {"tls.client_ca", s.TLS.ClientCA}} {
		checkFile(p, Join(path, f.name), f.file)
	}
	users := map[string]bool{}
	for i, u := range s.Users {
		upath := Index(Join(path, "users"), i)
		switch {
		case u.User == "":
			p.Addf(upath, "missing %q", "user")
		case users[u.User]:
			p.Addf(Join(upath, "user"), "user %q defined twice", u.User)
		}
		users[u.User] = true
		if u.Password == "" && s.TLS.ClientCA == "" {
			p.Addf(Join(upath, "password"), "missing (a user without a password needs client certificates)")
		}
		for j, subj := range append(append([]string{}, u.Publish...), u.Subscribe...) {
			if err := checkSubject(subj); err != nil {
				field := "publish"
				k := j
				if j >= len(u.Publish) {
					field, k = "subscribe", j-len(u.Publish)
				}
				p.Addf(Index(Join(upath, field), k), "%v", err)
			}
		}
	}
	if err == nil && !isLoopback(host) && !s.AllowInsecure && (s.TLS.Cert == "" || s.TLS.ClientCA == "" || s.TLS.CRL == "") {
		p.Addf(Join(path, "listen"), "%s is reachable from other machines: configure mutual TLS with Vigil's CA: server.tls.cert, key, client_ca and crl (docs/BUS.md; allow_insecure: true only on an isolated network)", s.Listen)
	}
	if s.JetStream.MaxBytes < 0 {
		p.Addf(Join(path, "jetstream.max_bytes"), "must not be negative")
	}
	if s.JetStream.MaxAge < 0 {
		p.Addf(Join(path, "jetstream.max_age"), "must not be negative")
	}
	s.validateLeaf(p, path)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func checkFile(p *Problems, path, file string) {
	if file == "" {
		return
	}
	f := file
	if !filepath.IsAbs(f) && p.BaseDir != "" {
		f = filepath.Join(p.BaseDir, f)
	}
	if _, err := os.Stat(f); err != nil {
		p.Addf(path, "cannot read %q: %v", file, unwrapPathErr(err))
	}
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// Resolve returns file made absolute against the resource object's
// directory.
func (ro *ResourceObject) Resolve(file string) string {
	if file == "" || filepath.IsAbs(file) || ro.File == "" {
		return file
	}
	return filepath.Join(filepath.Dir(ro.File), file)
}

func inDurableSpace(subj string) bool {
	for _, sp := range bus.DurableSpaces {
		if strings.HasPrefix(subj, sp) {
			return true
		}
	}
	return false
}

// checkToken accepts names usable as a NATS subject token and consumer
// name: 1..64 of [A-Za-z0-9_-].
func checkToken(s string) error {
	if s == "" || len(s) > 64 {
		return fmt.Errorf("name %q must be 1 to 64 characters", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("name %q: character %q not allowed (use A-Z a-z 0-9 _ -)", s, rune(c))
		}
	}
	return nil
}

// checkDomain accepts a JetStream domain name: one subject token of
// [A-Za-z0-9_-], 1..64 characters (the server prefixes it to its API
// subjects, $JS.<domain>.API).
func checkDomain(s string) error {
	if s == "" || len(s) > 64 {
		return fmt.Errorf("JetStream domain %q must be 1 to 64 characters", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("JetStream domain %q: character %q not allowed (use A-Z a-z 0-9 _ -)", s, rune(c))
		}
	}
	return nil
}

// Bounds of the heartbeat interval.
const (
	MinHeartbeatInterval = 100 * time.Millisecond
	MaxHeartbeatInterval = 10 * time.Minute
)

// validateHierarchy checks the monitor's place in the hierarchy: its
// parent, peers and children are other monitors' names, each named once
// and in one role; its heartbeat's interval and bounds make sense.
func (m *Monitor) validateHierarchy(p *Problems) {
	role := map[string]string{} // name -> the key that first named it
	if m.Parent != "" {
		switch err := checkToken(m.Parent); {
		case err != nil:
			p.Addf("monitor.parent", "%v", err)
		case m.Parent == m.Name:
			p.Addf("monitor.parent", "a monitor cannot be its own parent")
		default:
			role[m.Parent] = "parent"
		}
	}
	for _, list := range []struct {
		key   string
		names []string
	}{{"peers", m.Peers}, {"children", m.Children}} {
		what := "peer"
		if list.key == "children" {
			what = "child"
		}
		for i, name := range list.names {
			path := Index(Join("monitor", list.key), i)
			if err := checkToken(name); err != nil {
				p.Addf(path, "%v", err)
				continue
			}
			if name == m.Name {
				p.Addf(path, "a monitor cannot be its own %s", what)
				continue
			}
			switch prev, seen := role[name]; {
			case !seen:
				role[name] = list.key
			case prev == list.key:
				p.Addf(path, "%q listed twice in monitor.%s", name, list.key)
			case prev == "parent":
				p.Addf(path, "%q is the parent; it cannot also be a %s", name, what)
			default:
				p.Addf(path, "%q is already one of monitor.%s; a monitor is a peer or a child, not both", name, prev)
			}
		}
	}
	hb := m.Heartbeat
	if hb.Interval < MinHeartbeatInterval || hb.Interval > MaxHeartbeatInterval {
		p.Addf("monitor.heartbeat.interval", "must be between 100ms and 10m")
	}
	if hb.StaleAfter < 1 || hb.StaleAfter > 1000 {
		p.Addf("monitor.heartbeat.stale_after", "must be between 1 and 1000 intervals")
	}
	if hb.LostAfter <= hb.StaleAfter || hb.LostAfter > 1000 {
		p.Addf("monitor.heartbeat.lost_after", "must be more intervals than stale_after (%d), at most 1000", hb.StaleAfter)
	}
}

// checkSubject accepts a NATS subject or pattern: dot-separated non-empty
// tokens without whitespace, '>' only as the last token.
func checkSubject(s string) error {
	if s == "" {
		return fmt.Errorf("empty subject")
	}
	toks := strings.Split(s, ".")
	for i, t := range toks {
		switch {
		case t == "":
			return fmt.Errorf("subject %q has an empty token", s)
		case strings.ContainsAny(t, " \t\r\n"):
			return fmt.Errorf("subject %q contains whitespace", s)
		case t == ">" && i != len(toks)-1:
			return fmt.Errorf("subject %q: '>' must be the last token", s)
		case len(t) > 1 && strings.ContainsAny(t, "*>"):
			return fmt.Errorf("subject %q: wildcards must be whole tokens", s)
		}
	}
	return nil
}

// ValidateAgent checks an agent section built outside a resource object
// (from command-line flags).
func ValidateAgent(a Agent) error {
	var p Problems
	a.validate(&p, "agent")
	if p.Len() > 0 {
		return &Error{Problems: p.List()}
	}
	return nil
}

// The values of AgentEvents.Exits.
const (
	EventsExitsAll       = "all"
	EventsExitsSignalled = "signalled"
	EventsExitsNone      = "none"
)

// ValidateAgentEvents checks an events section given in code (the host
// events sensor's options).
func ValidateAgentEvents(e AgentEvents) error {
	var p Problems
	e.validate(&p, "agent.events")
	if p.Len() > 0 {
		return &Error{Problems: p.List()}
	}
	return nil
}

// ValidateNetSensor checks a netsensor section changed by command-line
// flags.
func ValidateNetSensor(n NetSensor) error {
	var p Problems
	n.validate(&p, "netsensor")
	if p.Len() > 0 {
		return &Error{Problems: p.List()}
	}
	return nil
}

// ValidateServer checks the server section again, after a command-line
// flag changed it.
func ValidateServer(ro *ResourceObject) error {
	p := Problems{BaseDir: filepath.Dir(ro.File)}
	ro.Server.validate(&p, "server")
	if p.Len() > 0 {
		return &Error{Problems: p.List()}
	}
	return nil
}

// Bounds of the events section.
const (
	// MaxEventPrefixes bounds the path prefixes of all classes together,
	// and MaxEventNames the file names (the kernel maps' sizes).
	MaxEventPrefixes = 1024
	MaxEventNames    = 1024
	// MaxEventPathBytes is the longest prefix the kernel compares, and
	// MaxEventNameBytes the longest file name.
	MaxEventPathBytes = 256
	MaxEventNameBytes = 31
	// MaxEventArgBytes is the most argv bytes an exec record holds.
	MaxEventArgBytes = 4096
)

func (e *AgentEvents) validate(p *Problems, path string) {
	if n := e.RingBufferBytes; n < 4096 || n > 1<<30 || n&(n-1) != 0 {
		p.Addf(Join(path, "ring_buffer_bytes"), "must be a power of two from 4096 to 1073741824, not %d", n)
	}
	if e.MaxArgs < 1 || e.MaxArgs > 4096 {
		p.Addf(Join(path, "max_args"), "must be between 1 and 4096")
	}
	if e.MaxArgBytes < 1 || e.MaxArgBytes > MaxEventArgBytes {
		p.Addf(Join(path, "max_arg_bytes"), "must be between 1 and %d", MaxEventArgBytes)
	}
	if e.MaxProcesses < 64 || e.MaxProcesses > 1<<22 {
		p.Addf(Join(path, "max_processes"), "must be between 64 and 4194304")
	}
	if e.ReadEvery < time.Millisecond || e.ReadEvery > time.Second {
		p.Addf(Join(path, "read_every"), "must be between 1ms and 1s, not %s", e.ReadEvery)
	}
	switch e.Exits {
	case EventsExitsAll, EventsExitsSignalled, EventsExitsNone:
	default:
		p.Addf(Join(path, "exits"), "must be %s, %s or %s, not %q", EventsExitsAll, EventsExitsSignalled, EventsExitsNone, e.Exits)
	}
	prefixes := 0
	for _, l := range []struct {
		key  string
		list []string
	}{{"open_paths", e.OpenPaths}, {"modify_paths", e.ModifyPaths}, {"perm_paths", e.PermPaths}, {"cred_exes", e.CredExes}} {
		for i, v := range l.list {
			switch {
			case !strings.HasPrefix(v, "/"):
				p.Addf(Index(Join(path, l.key), i), "%q is not an absolute path", v)
			case len(v) > MaxEventPathBytes:
				p.Addf(Index(Join(path, l.key), i), "path of %d bytes; the kernel compares at most %d", len(v), MaxEventPathBytes)
			case strings.ContainsRune(v, 0):
				p.Addf(Index(Join(path, l.key), i), "path holds a NUL byte")
			}
		}
		if l.key != "cred_exes" {
			prefixes += len(l.list)
		}
	}
	if prefixes > MaxEventPrefixes {
		p.Addf(path, "%d path prefixes; at most %d", prefixes, MaxEventPrefixes)
	}
	for _, l := range []struct {
		key  string
		list []string
	}{{"open_names", e.OpenNames}, {"modify_names", e.ModifyNames}} {
		for i, v := range l.list {
			if v == "" || v == "." || v == ".." || strings.ContainsAny(v, "/\x00") || len(v) > MaxEventNameBytes {
				p.Addf(Index(Join(path, l.key), i), "%q is not a file name of 1 to %d bytes without /", v, MaxEventNameBytes)
			}
		}
	}
	if n := len(e.OpenNames) + len(e.ModifyNames); n > MaxEventNames {
		p.Addf(path, "%d file names; at most %d", n, MaxEventNames)
	}
}
