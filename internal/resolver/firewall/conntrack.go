package firewall

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"
)

// endFlows deletes the tracked flows (connection tracking entries) whose
// source or destination, in either direction, is in p, and returns how
// many it deleted. A flow that ends by itself meanwhile is not an error.
func endFlows(ctx context.Context, ns *os.File, p netip.Prefix) (int, error) {
	cfg := &netlink.Config{}
	if ns != nil {
		cfg.NetNS = int(ns.Fd())
	}
	c, err := conntrack.Dial(cfg)
	if err != nil {
		return 0, fmt.Errorf("conntrack: %w", err)
	}
	defer c.Close()
	flows, err := c.Dump(nil)
	if err != nil {
		return 0, fmt.Errorf("conntrack: list flows: %w", err)
	}
	n := 0
	for _, f := range flows {
		if !flowTouches(f, p) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return n, err
		}
		if err := c.Delete(f); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return n, fmt.Errorf("conntrack: delete %s: %w", f.TupleOrig, err)
		}
		n++
	}
	return n, nil
}

func flowTouches(f conntrack.Flow, p netip.Prefix) bool {
	for _, a := range []netip.Addr{
		f.TupleOrig.IP.SourceAddress, f.TupleOrig.IP.DestinationAddress,
		f.TupleReply.IP.SourceAddress, f.TupleReply.IP.DestinationAddress,
	} {
		if a.IsValid() && p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}
