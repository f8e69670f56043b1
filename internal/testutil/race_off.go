//go:build !race

package testutil

// Race says the test binary was built with the race detector.
const Race = false
