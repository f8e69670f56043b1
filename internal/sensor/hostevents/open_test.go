//go:build linux && amd64

package hostevents

import (
	"errors"
	"runtime"
	"testing"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// Open returns to the system what loading the programs left behind before
// it returns: the heap keeps no free memory for the runtime's scavenger to
// give back, page run by page run, while the first events are read.
func TestOpenLeavesNoFreeMemoryHeld(t *testing.T) {
	s, err := Open(Options{Host: "test-host", Events: config.DefaultAgentEvents(), Logger: testutil.Quiet()})
	var ue *UnavailableError
	if errors.As(err, &ue) {
		t.Skipf("skipped: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var after, collected runtime.MemStats
	runtime.ReadMemStats(&after)
	runtime.GC()
	runtime.ReadMemStats(&collected)
	garbage := int64(after.HeapInuse) - int64(collected.HeapInuse) // what a collection now frees
	held := after.HeapIdle - after.HeapReleased                    // free, and not given back
	t.Logf("after Open: heap in use %d KiB (%d KiB of it garbage), free and held %d KiB, returned %d KiB",
		after.HeapInuse>>10, garbage>>10, held>>10, after.HeapReleased>>10)
	// What the runtime would still have to collect and give back, page
	// run by page run, once events flow.
	if left := garbage + int64(held); left > 2<<20 {
		t.Errorf("after Open %d KiB of the heap is garbage or free memory not given back to the system; want under 2 MiB", left>>10)
	}
}
