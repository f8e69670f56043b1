package netsensor

// Logins and FTP data connections, as FTP and SMTP commands show them.
//
// A login's outcome is the record's `login` (`failed`, `succeeded`): an
// FTP PASS answered 530 or 230, an SMTP AUTH answered 535 or 235, so a
// rule counts password guessing the same way for every protocol. SMTP
// AUTH's credentials travel in base64 after the command (RFC 4954): the
// user they name is recorded, the password never, and the lines that
// carry them are not read as commands.
//
// An FTP PORT or EPRT names the address and port the server is to
// connect to for the next transfer (RFC 959, RFC 2428); the records of
// the command, and of the transfer commands that use it, carry them as
// `data_addr`, `data_port` and `data_target`. An address other than the
// client's makes the server connect to a third party: the FTP bounce.

import (
	"bytes"
	"encoding/base64"
	"net/netip"
	"strconv"
	"strings"
)

// commandFields are the attributes a command's reply adds to its record
// beyond the command itself; it also keeps the state later commands need
// (the data target of a PORT, the end of an AUTH exchange).
func commandFields(a *appState, code int) map[string]any {
	switch a.proto {
	case appFTP:
		switch a.method {
		case "PASS":
			return loginOutcome(code, 230, 530)
		case "PORT", "EPRT":
			var addr netip.Addr
			var port uint16
			var ok bool
			if a.method == "PORT" {
				addr, port, ok = parsePORT(a.arg)
			} else {
				addr, port, ok = parseEPRT(a.arg)
			}
			a.dataAddr = netip.Addr{}
			if !ok {
				return nil
			}
			if code < 400 {
				// Refused, it names no data connection for what follows.
				a.dataAddr, a.dataPort = addr, port
			}
			return dataFields(addr, port)
		case "PASV", "EPSV":
			a.dataAddr = netip.Addr{}
		case "LIST", "NLST", "MLSD", "RETR", "STOR", "STOU", "APPE":
			if a.dataAddr.IsValid() {
				return dataFields(a.dataAddr, a.dataPort)
			}
		}
	case appSMTP:
		if a.method == "AUTH" {
			m := loginOutcome(code, 235, 535)
			if a.authUser != "" {
				m["user"] = a.authUser
			}
			a.authMode, a.authUser, a.authSeen = false, "", false
			return m
		}
	}
	return nil
}

func loginOutcome(code, ok, bad int) map[string]any {
	m := make(map[string]any, 2)
	switch code {
	case ok:
		m["login"] = "succeeded"
	case bad:
		m["login"] = "failed"
	}
	return m
}

func dataFields(addr netip.Addr, port uint16) map[string]any {
	return map[string]any{"data_addr": addr.String(), "data_port": int64(port), "data_target": netip.AddrPortFrom(addr, port).String()}
}

// parsePORT reads PORT's argument: h1,h2,h3,h4,p1,p2 (RFC 959).
func parsePORT(arg string) (netip.Addr, uint16, bool) {
	parts := strings.Split(strings.TrimSpace(arg), ",")
	if len(parts) != 6 {
		return netip.Addr{}, 0, false
	}
	var n [6]byte
	for i, p := range parts {
		v, err := strconv.ParseUint(strings.TrimSpace(p), 10, 8)
		if err != nil {
			return netip.Addr{}, 0, false
		}
		n[i] = byte(v)
	}
	return netip.AddrFrom4([4]byte(n[:4])), uint16(n[4])<<8 | uint16(n[5]), true
}

// parseEPRT reads EPRT's argument: <d>af<d>address<d>port<d>, af 1 for
// IPv4 and 2 for IPv6 (RFC 2428).
func parseEPRT(arg string) (netip.Addr, uint16, bool) {
	if len(arg) < 2 {
		return netip.Addr{}, 0, false
	}
	d := arg[:1]
	parts := strings.Split(arg[1:], d)
	if len(parts) != 4 || parts[3] != "" {
		return netip.Addr{}, 0, false
	}
	addr, err := netip.ParseAddr(parts[1])
	if err != nil || addr.Zone() != "" {
		return netip.Addr{}, 0, false
	}
	switch parts[0] {
	case "1":
		if !addr.Is4() {
			return netip.Addr{}, 0, false
		}
	case "2":
		if !addr.Is6() {
			return netip.Addr{}, 0, false
		}
		addr = addr.Unmap()
	default:
		return netip.Addr{}, 0, false
	}
	port, err := strconv.ParseUint(parts[2], 10, 16)
	if err != nil {
		return netip.Addr{}, 0, false
	}
	return addr, uint16(port), true
}

// smtpAuthStart takes an AUTH command's argument: the mechanism and,
// perhaps, an initial response.
func smtpAuthStart(a *appState, arg string) {
	mech, rest, _ := strings.Cut(arg, " ")
	a.authMech, a.authUser, a.authSeen = strings.ToUpper(mech), "", false
	if rest = strings.TrimSpace(rest); rest != "" && rest != "=" {
		a.authSeen = true
		a.authUser = authUser(a.authMech, []byte(rest))
	}
}

// smtpAuthLine takes a client's line during an AUTH exchange: the first
// names the user (LOGIN, PLAIN without an initial response, CRAM-MD5);
// the others, passwords and digests, are dropped.
func smtpAuthLine(a *appState, b []byte) {
	if a.authSeen {
		return
	}
	a.authSeen = true
	line, _, _ := bytes.Cut(b, []byte("\n"))
	a.authUser = authUser(a.authMech, bytes.TrimSpace(line))
}

// authUser is the user an SASL response names, or "".
func authUser(mech string, b64 []byte) string {
	buf := make([]byte, base64.StdEncoding.DecodedLen(len(b64)))
	n, err := base64.StdEncoding.Decode(buf, b64)
	if err != nil {
		return ""
	}
	v := buf[:n]
	switch mech {
	case "LOGIN":
	case "PLAIN":
		// authzid NUL authcid NUL password (RFC 4616).
		parts := bytes.Split(v, []byte{0})
		if len(parts) != 3 {
			return ""
		}
		v = parts[1]
	case "CRAM-MD5":
		// user SP digest (RFC 2195).
		i := bytes.LastIndexByte(v, ' ')
		if i < 0 {
			return ""
		}
		v = v[:i]
	default:
		return ""
	}
	return clean(v)
}
