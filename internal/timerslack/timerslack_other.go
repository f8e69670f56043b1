//go:build !linux

package timerslack

import (
	"os/exec"
	"time"
)

func set(time.Duration) (int, error) { return 0, ErrUnsupported }

func get() (time.Duration, error) { return 0, ErrUnsupported }

func startWith(cmd *exec.Cmd, _ time.Duration) error { return cmd.Start() }
