package monitor

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// defaultGateways reads this machine's default routes' gateways from the
// proc filesystem at proc (route and ipv6_route under net/): addresses the
// decision unit never acts on, since blocking them would cut the machine
// off. A file that cannot be read gives none.
func defaultGateways(proc string) []netip.Addr {
	var out []netip.Addr
	if f, err := os.Open(filepath.Join(proc, "net", "route")); err == nil {
		out = append(out, parseRoute(f)...)
		f.Close()
	}
	if f, err := os.Open(filepath.Join(proc, "net", "ipv6_route")); err == nil {
		out = append(out, parseIPv6Route(f)...)
		f.Close()
	}
	return out
}

// parseRoute reads /proc/net/route: a default route has destination and
// mask 0; its gateway is 32 bits in hex, in the host's (little-endian)
// order.
func parseRoute(r io.Reader) []netip.Addr {
	var out []netip.Addr
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 8 || f[1] != "00000000" || f[7] != "00000000" {
			continue
		}
		b, err := hex.DecodeString(f[2])
		if err != nil || len(b) != 4 {
			continue
		}
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], binary.LittleEndian.Uint32(b))
		if gw := netip.AddrFrom4(a); !gw.IsUnspecified() {
			out = append(out, gw)
		}
	}
	return out
}

// parseIPv6Route reads /proc/net/ipv6_route: a default route has
// destination :: with prefix length 0; its next hop is the fifth field.
func parseIPv6Route(r io.Reader) []netip.Addr {
	var out []netip.Addr
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 || f[0] != strings.Repeat("0", 32) || f[1] != "00" {
			continue
		}
		b, err := hex.DecodeString(f[4])
		if err != nil || len(b) != 16 {
			continue
		}
		if gw := netip.AddrFrom16([16]byte(b)); !gw.IsUnspecified() {
			out = append(out, gw)
		}
	}
	return out
}
