package event

import "testing"

// TestSourceVerified: only records showing that the server sent data on a
// TCP connection vouch for its source address.
func TestSourceVerified(t *testing.T) {
	tcp := func(typ string, kv ...any) *Event {
		a := map[string]any{"proto": "tcp", "src": "192.0.2.7", "dst": "10.0.0.3"}
		for i := 0; i+1 < len(kv); i += 2 {
			a[kv[i].(string)] = kv[i+1]
		}
		return &Event{Type: typ, Attrs: a}
	}
	for _, tc := range []struct {
		name string
		ev   *Event
		want bool
	}{
		{"a flow the server sent data on", tcp("NET.FLOW", "bytes_to_client", int64(120)), true},
		{"a flow with nothing back (a SYN flood's half-open flows)", tcp("NET.FLOW", "bytes_to_client", int64(0), "bytes_to_server", int64(500)), false},
		{"an HTTP request answered", tcp("NET.HTTP", "method", "GET", "status", int64(200)), true},
		{"an HTTP request without its reply", tcp("NET.HTTP", "method", "GET", "status_seen", false), false},
		{"an SMTP command answered", tcp("NET.SMTP", "command", "HELO", "reply", int64(250)), true},
		{"an FTP command without its reply", tcp("NET.FTP", "command", "USER", "reply_seen", false), false},
		{"a banner answered", tcp("NET.BANNER", "reply", true), true},
		{"a first banner", tcp("NET.BANNER", "from", "client"), false},
		{"a SYN answered by a SYN-ACK", tcp("NET.CONN", "outcome", "established"), false},
		{"UDP", &Event{Type: "NET.FLOW", Attrs: map[string]any{"proto": "udp", "src": "192.0.2.7", "bytes_to_client": int64(80)}}, false},
		{"no source", &Event{Type: "NET.HTTP", Attrs: map[string]any{"proto": "tcp", "status": int64(200)}}, false},
	} {
		if got := SourceVerified(tc.ev); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
