package node

import (
	"context"
	"io"
	"runtime"
	"testing"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// vigil agent runs its Go code on agent.max_procs threads at once (one by
// default); 0 leaves the runtime's choice as it was.
func TestRunAgentSetsItsThreads(t *testing.T) {
	prev := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	for _, tc := range []struct{ maxProcs, want int }{
		{config.Default().Agent.MaxProcs, 1},
		{3, 3},
		{0, 5}, // as set before the run
	} {
		runtime.GOMAXPROCS(5)
		a := config.Default().Agent
		a.MaxProcs = tc.maxProcs
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // the agent starts and stops at once
		if err := RunAgent(ctx, a, SensorOptions{Stdout: io.Discard, Logger: testutil.Quiet()}); err != nil {
			t.Fatal(err)
		}
		if got := runtime.GOMAXPROCS(0); got != tc.want {
			t.Errorf("agent.max_procs %d: the agent ran on %d threads, want %d", tc.maxProcs, got, tc.want)
		}
	}
}
