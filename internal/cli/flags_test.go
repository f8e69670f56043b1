package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-ids/vigil/internal/config"
)

// runVigil runs the command line and returns its exit code and what it
// wrote to standard error.
func runVigil(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code := Main(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

// parsed builds a verb and parses args into its flags.
func parsed(t *testing.T, build func(*env) *cobra.Command, args ...string) *cobra.Command {
	t.Helper()
	cmd := build(&env{})
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatalf("parsing %v: %v", args, err)
	}
	return cmd
}

func TestAgentFlagsOverrideOnlyWhatIsGiven(t *testing.T) {
	var af agentFlags
	cmd := &cobra.Command{Use: "x"}
	af.register(cmd, "")
	if err := cmd.ParseFlags([]string{"--interval", "2s", "--procs", "sshd,bash", "--threshold", "PROC.CPU=30:0.5", "--syscalls", "--syscall-interval", "3s", "--events", "--effector"}); err != nil {
		t.Fatal(err)
	}
	sec := config.Default().Agent
	sec.Window = 7 // from a resource object: no flag given, so it stays
	sec.Thresholds = map[string]config.Threshold{"PROC.MEM": {Abs: 16}}
	a, err := af.apply(cmd, "", sec)
	if err != nil {
		t.Fatal(err)
	}
	if a.Interval != 2*time.Second || a.Window != 7 || strings.Join(a.Procs, ",") != "sshd,bash" {
		t.Fatalf("interval %v window %d procs %v; want 2s, 7 (the section's), sshd,bash", a.Interval, a.Window, a.Procs)
	}
	if a.Thresholds["PROC.CPU"] != (config.Threshold{Abs: 30, Rel: 0.5}) || a.Thresholds["PROC.MEM"] != (config.Threshold{Abs: 16}) {
		t.Fatalf("thresholds %v: want PROC.CPU 30/0.5 added to the section's PROC.MEM 16", a.Thresholds)
	}
	if sec.Thresholds["PROC.CPU"] != (config.Threshold{}) {
		t.Fatal("the flags changed the section's own threshold map")
	}
	if !a.Syscalls.Enabled || a.Syscalls.Interval != 3*time.Second || a.Syscalls.MapEntries != config.DefaultSyscallMapEntries {
		t.Fatalf("syscalls %+v: want enabled, 3s, the default map size", a.Syscalls)
	}
	if a.Levels != config.DefaultLevels() {
		t.Fatalf("levels %+v with no level flag: want the defaults", a.Levels)
	}
	if !a.Events.Enabled || a.Events.RingBufferBytes != config.DefaultEventsRingBufferBytes || len(a.Events.OpenPaths) == 0 {
		t.Fatalf("events %+v: want enabled, with the default ring buffer and watched paths", a.Events)
	}
	if !a.Effector.Enabled || len(a.Effector.ProtectedNames) == 0 {
		t.Fatalf("effector %+v: want enabled, with the default protections", a.Effector)
	}
	if config.Default().Agent.Effector.Enabled {
		t.Fatal("the effector is on without --effector")
	}
	cmd = &cobra.Command{Use: "y"}
	var lf agentFlags
	lf.register(cmd, "agent-")
	if err := cmd.ParseFlags([]string{"--agent-cpu-level", "75", "--agent-cpu-level-for", "30s", "--agent-mem-level-mb", "2048"}); err != nil {
		t.Fatal(err)
	}
	sec = config.Default().Agent
	sec.Levels.MemFor = time.Hour // from a resource object
	if a, err = lf.apply(cmd, "agent-", sec); err != nil {
		t.Fatal(err)
	}
	want := config.DefaultLevels()
	want.CPU, want.CPUFor, want.MemMB, want.MemFor = 75, 30*time.Second, 2048, time.Hour
	if a.Levels != want {
		t.Fatalf("levels %+v, want %+v", a.Levels, want)
	}
}

func TestAgentFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--threshold", "PROC.CPU"}, `--threshold "PROC.CPU": want TYPE=ABS[:REL]`},
		{[]string{"--threshold", "PROC.CPU=x"}, `bad absolute threshold "x"`},
		{[]string{"--threshold", "PROC.CPU=1:y"}, `bad relative threshold "y"`},
		{[]string{"--window", "0"}, "window"},
		{[]string{"--interval", "-1s"}, "interval"},
		{[]string{"--mem-level", "120"}, "agent.levels.mem_pct: must be between 0 (off) and 100"},
		{[]string{"--level-repeat", "0s"}, "agent.levels.repeat"},
		{[]string{"--events-ring-buffer-bytes", "5000"}, "agent.events.ring_buffer_bytes: must be a power of two"},
	} {
		var af agentFlags
		cmd := &cobra.Command{Use: "x"}
		af.register(cmd, "agent-")
		var prefixed []string
		for _, a := range tc.args {
			if strings.HasPrefix(a, "--") {
				a = "--agent-" + a[2:]
			}
			prefixed = append(prefixed, a)
		}
		if err := cmd.ParseFlags(prefixed); err != nil {
			t.Fatal(err)
		}
		_, err := af.apply(cmd, "agent-", config.Default().Agent)
		if err == nil || !strings.Contains(err.Error(), strings.ReplaceAll(tc.want, "--threshold", "--agent-threshold")) {
			t.Errorf("%v: error %v, want one containing %q", prefixed, err, tc.want)
		}
	}
}

// TestFlagDefaultsComeFromConfig checks that the defaults the verbs show
// are config's.
func TestFlagDefaultsComeFromConfig(t *testing.T) {
	for _, tc := range []struct {
		build       func(*env) *cobra.Command
		flag, value string
	}{
		{agentCmd, "interval", config.DefaultAgentInterval.String()},
		{agentCmd, "window", "5"},
		{agentCmd, "spool-max-bytes", "67108864"},
		{agentCmd, "bus", config.DefaultBusURL},
		{agentCmd, "syscall-map-entries", "65536"},
		{agentCmd, "cpu-level", "90"},
		{agentCmd, "cpu-level-for", "1m0s"},
		{upCmd, "agent-mem-level", "50"},
		{upCmd, "agent-interval", "4s"},
		{upCmd, "agent-events-ring-buffer-bytes", "4194304"},
		{upCmd, "listen", config.DefaultHTTPListen},
		{upCmd, "bus-listen", "127.0.0.1:4222"},
		{upCmd, "data", config.DefaultDataDir},
		{monitorCmd, "bus", "nats://127.0.0.1:4222"},
		{netsensorCmd, "summary-interval", "10s"},
		{netsensorCmd, "max-flows", "262144"},
		{netsensorCmd, "attempt-timeout", "5s"},
		{ingestEventsCmd, "bus", "nats://127.0.0.1:4222"},
		{ingestFirewallCmd, "bus", "nats://127.0.0.1:4222"},
		{ingestSuricataCmd, "source", "suricata"},
		{recordCmd, "syscall-interval", "1s"},
	} {
		cmd := tc.build(&env{})
		f := cmd.Flags().Lookup(tc.flag)
		if f == nil {
			t.Errorf("%s has no --%s", cmd.Name(), tc.flag)
			continue
		}
		if f.DefValue != tc.value {
			t.Errorf("%s --%s defaults to %q, want %q", cmd.Name(), tc.flag, f.DefValue, tc.value)
		}
		var help bytes.Buffer
		cmd.SetOut(&help)
		_ = cmd.Usage()
		if !strings.Contains(help.String(), "--"+tc.flag) {
			t.Errorf("%s's usage does not show --%s", cmd.Name(), tc.flag)
		}
	}
}

func TestBusFlagsOverSection(t *testing.T) {
	sec := config.BusClient{URL: "tls://bus.example:4222", User: "svc", TLS: config.ClientTLS{CA: "ca.pem"}}
	resolve := func(p string) string {
		if p == "" {
			return ""
		}
		return "/etc/vigil/" + p
	}
	var bf busFlags
	cmd := parsed(t, func(*env) *cobra.Command {
		c := &cobra.Command{Use: "x"}
		bf.register(c.Flags())
		return c
	}, "--bus-user", "other")
	got := bf.apply(sec, resolve)
	if got.URL != sec.URL || got.User != "other" || got.TLS.CA != "/etc/vigil/ca.pem" {
		t.Fatalf("got %+v: want the section's URL, the flag's user, the CA resolved", got)
	}
	_ = cmd
	if got := bf.apply(config.BusClient{}, nil); got.URL != config.DefaultBusURL {
		t.Fatalf("no URL anywhere gave %q, want %q", got.URL, config.DefaultBusURL)
	}
	var bf2 busFlags
	c2 := &cobra.Command{Use: "y"}
	bf2.register(c2.Flags())
	if err := c2.ParseFlags([]string{"--bus", "nats://10.0.0.1:4222"}); err != nil {
		t.Fatal(err)
	}
	if got := bf2.apply(sec, nil); got.URL != "nats://10.0.0.1:4222" || got.User != "svc" {
		t.Fatalf("got %+v: want the flag's URL over the section's, the section's user", got)
	}
	// The CRL the server's certificate is checked against, from a flag.
	var bf3 busFlags
	c3 := &cobra.Command{Use: "z"}
	bf3.register(c3.Flags())
	if err := c3.ParseFlags([]string{"--bus-crl", "crl.pem"}); err != nil {
		t.Fatal(err)
	}
	if got := bf3.apply(sec, resolve); got.TLS.CRL != "/etc/vigil/crl.pem" || got.TLS.CA != "/etc/vigil/ca.pem" {
		t.Fatalf("got %+v: want the flag's CRL beside the section's CA, both resolved", got.TLS)
	}
}

// TestVerbUsageErrors checks the errors of bad flags and bad combinations:
// exit 2 with a message naming the flag, and nothing started.
func TestVerbUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"netsensor"}, "give one of --iface or --pcap"},
		{[]string{"netsensor", "--iface", "lo", "--pcap", "x.pcap"}, "give one of --iface or --pcap"},
		{[]string{"monitor"}, "--config is required"},
		{[]string{"up", "--listen", "0.0.0.0:8080", "--no-agent", "--data", "DATA"}, "--listen 0.0.0.0:8080 is reachable from other machines"},
		{[]string{"up", "--bus-listen", "0.0.0.0:4222", "--no-agent", "--data", "DATA"}, "server"},
		{[]string{"agent", "--threshold", "nope"}, `--threshold "nope": want TYPE=ABS[:REL]`},
		{[]string{"agent", "--interval", "soon"}, `invalid argument "soon" for "--interval"`},
		{[]string{"ingest", "suricata", "--eve", "a", "--fast", "b"}, "--eve and --fast: give one input"},
		{[]string{"ingest", "snort"}, "no input: give --fast or --json"},
		{[]string{"ingest", "suricata", "--eve", "-", "--follow"}, "--follow follows a file"},
		{[]string{"check", "--kind", "yaml", "x"}, `--kind "yaml": want auto, config, rules, model or classifier`},
		{[]string{"record"}, "--syscalls"},
		{[]string{"record", "--syscalls"}, "--out FILE is required"},
		{[]string{"record", "--syscalls", "--out", "x", "--duration", "0s"}, "--duration must be positive"},
		{[]string{"eval", "lidds", "--interval", "0s", "x.zip"}, "--interval must be positive"},
		{[]string{"eval", "kdd"}, "--train FILE is required"},
		{[]string{"eval", "countvec"}, "--data RECORDINGS is required"},
		{[]string{"eval", "countvec", "--data", "x", "--runs", "0"}, "--runs must be at least 1"},
		{[]string{"eval", "countvec", "--data", "x", "--cross-host", "hostA"}, `--cross-host "hostA": want test=HOST`},
		{[]string{"eval", "countvec", "--lidds", "x"}, "--lidds needs --model FILE"},
		{[]string{"train", "classifier", "--model", "m"}, "--data RECORDINGS is required"},
		{[]string{"train", "classifier", "--data", "d"}, "--model OUT is required"},
		{[]string{"train", "classifier", "--local", "--data", "d", "--model", "m"}, "--local and --data: give one source of recordings"},
		{[]string{"train", "classifier", "--data", "d", "--model", "m", "--duration", "1m"}, "--duration and --interval go with --local"},
		{[]string{"train", "classifier", "--local", "--model", "m", "--duration", "0s"}, "--duration and --interval must be positive"},
		{[]string{"train", "classifier", "--local", "--model", "m", "--kind", "perceptron"}, `unknown model kind "perceptron"`},
		{[]string{"train", "classifier", "--data", "d", "--model", "m", "--kind", "perceptron"}, `unknown model kind "perceptron"`},
		{[]string{"--log-level", "loud", "version"}, `--log-level: "loud"`},
		{[]string{"agent", "--no-such-flag"}, "unknown flag: --no-such-flag"},
	} {
		args := tc.args
		for i, a := range args {
			if a == "DATA" {
				args[i] = t.TempDir()
			}
		}
		code, _, stderr := runVigil(t, args...)
		if code != ExitFailure {
			t.Errorf("%v: exit %d, want %d (stderr %q)", tc.args, code, ExitFailure, stderr)
			continue
		}
		if !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: stderr %q, want it to say %q", tc.args, stderr, tc.want)
		}
	}
}

func TestEveryVerbHasHelp(t *testing.T) {
	root := &cobra.Command{Use: "vigil"}
	e := &env{}
	root.AddCommand(versionCmd(e), upCmd(e), agentCmd(e), netsensorCmd(e), monitorCmd(e), replayCmd(e), checkCmd(e), ingestCmd(e), benchCmd(e), labCmd(e), evalCmd(e), profilesCmd(e), recordCmd(e), respondCmd(e), usersCmd(e))
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Short == "" && !c.Hidden && c != root {
			t.Errorf("%s has no short help", c.CommandPath())
		}
		if c.Runnable() && !c.Hidden && c.Name() != "version" && len(c.Long) < 80 && len(c.Commands()) == 0 && !strings.HasPrefix(c.CommandPath(), "vigil profiles") {
			t.Errorf("%s has no long help", c.CommandPath())
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
}
