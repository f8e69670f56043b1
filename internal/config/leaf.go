package config

import (
	"net"
	"strings"

	"github.com/vigil-ids/vigil/internal/bus"
)

// validateLeaf checks the server's JetStream domain and leaf nodes
// (docs/BUS.md, "Sites as leaf nodes"): a listener only with the
// server's mutual TLS, remotes with a monitor certificate of Vigil's CA
// and, off loopback, its CRL.
func (s *BusServer) validateLeaf(p *Problems, path string) {
	if d := s.JetStream.Domain; d != "" {
		if err := checkToken(d); err != nil {
			p.Addf(Join(path, "jetstream.domain"), "%v", err)
		}
	}
	l := &s.Leaf
	lpath := Join(path, "leaf")
	if l.Listen != "" {
		host, port, err := net.SplitHostPort(l.Listen)
		switch {
		case err != nil:
			p.Addf(Join(lpath, "listen"), "want host:port, got %q", l.Listen)
		case port == "":
			p.Addf(Join(lpath, "listen"), "no port in %q (leaf nodes usually use 7422)", l.Listen)
		default:
			if _, err := net.LookupPort("tcp", port); err != nil {
				p.Addf(Join(lpath, "listen"), "bad port %q", port)
			} else if l.Listen == s.Listen {
				p.Addf(Join(lpath, "listen"), "%s is also the client port (server.listen)", l.Listen)
			}
		}
		if s.TLS.Cert == "" || s.TLS.ClientCA == "" || s.TLS.CRL == "" {
			where := "on loopback too"
			if err == nil && !isLoopback(host) {
				where = "it is reachable from other machines"
			}
			p.Addf(Join(lpath, "listen"), "accepting leaf nodes needs mutual TLS with Vigil's CA (%s): server.tls.cert, key, client_ca and crl; each leaf presents a monitor's certificate", where)
		}
	}
	seen := map[string]bool{}
	for i, r := range l.Remotes {
		rpath := Index(Join(lpath, "remotes"), i)
		if strings.TrimSpace(r.URL) == "" {
			p.Addf(rpath, "missing %q: the leaf port of the bus to join (nats-leaf://host:7422)", "url")
		}
		offLoop := ""
		for _, u := range strings.Split(r.URL, ",") {
			if strings.TrimSpace(u) == "" {
				continue
			}
			pu, err := bus.ParseLeafURL(u)
			if err != nil {
				p.Addf(Join(rpath, "url"), "%v", err)
				continue
			}
			if seen[pu.Host] {
				p.Addf(Join(rpath, "url"), "%s is joined twice", pu.Host)
			}
			seen[pu.Host] = true
			if !isLoopback(pu.Hostname()) && offLoop == "" {
				offLoop = pu.Hostname()
			}
		}
		tpath := Join(rpath, "tls")
		for _, f := range []struct{ name, file, why string }{
			{"ca", r.TLS.CA, "the certificate of Vigil's CA, which signed the remote's"},
			{"cert", r.TLS.Cert, "this site's monitor certificate, its identity on the remote"},
			{"key", r.TLS.Key, "the key of tls.cert"},
		} {
			if f.file == "" {
				p.Addf(Join(tpath, f.name), "missing: %s", f.why)
			}
			checkFile(p, Join(tpath, f.name), f.file)
		}
		if r.TLS.CRL == "" && offLoop != "" {
			p.Addf(Join(tpath, "crl"), "missing: %s is reachable from other machines, so its certificate is checked against the CA's CRL (pki/crl.pem)", offLoop)
		}
		checkFile(p, Join(tpath, "crl"), r.TLS.CRL)
	}
	if len(l.Remotes) > 0 && s.JetStream.Domain == "" {
		p.Addf(Join(path, "jetstream.domain"), "missing: a bus joined to another as a leaf node needs its own JetStream domain, so its streams stay its own and the monitor above reaches them (subscriptions[].domain)")
	}
}
