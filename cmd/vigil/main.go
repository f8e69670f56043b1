// Command vigil is Vigil: host and network monitoring and intrusion
// detection, from sensors to explained reports. Run `vigil --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/vigil-ids/vigil/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
