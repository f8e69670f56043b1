//go:build !linux

package node

// freeBytes is unknown here: JetStream is restarted without waiting for
// space.
func freeBytes(string) (uint64, bool) { return 0, false }
