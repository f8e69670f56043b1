package monitor

import (
	"fmt"
	"strings"
	"testing"
)

// TestDefaultGateways reads the default routes' gateways from route
// tables as the kernel writes them.
func TestDefaultGateways(t *testing.T) {
	v4 := "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
		"eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
	if got := fmt.Sprint(parseRoute(strings.NewReader(v4))); got != "[192.0.2.1]" {
		t.Errorf("IPv4 gateways %s", got)
	}
	v6 := "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001 eth0\n" +
		"00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000003 00000000 00000003 eth0\n" +
		"00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200 lo\n"
	if got := fmt.Sprint(parseIPv6Route(strings.NewReader(v6))); got != "[fd00::1]" {
		t.Errorf("IPv6 gateways %s", got)
	}
	if got := defaultGateways(t.TempDir()); len(got) != 0 {
		t.Errorf("gateways of an empty proc: %v", got)
	}
}
