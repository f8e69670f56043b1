package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLeafNodes: a domain's bus dialling the enterprise's and the
// enterprise's accepting it load; each setting that would open a door or
// could not work is refused with its line and a message saying why.
func TestLeafNodes(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"ca.crt", "crl.pem", "dom1.crt", "dom1.key", "ent.crt", "ent.key"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	load := func(doc string) error {
		p := filepath.Join(dir, "m.yaml")
		if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadFile(p, testRegistries)
		return err
	}
	const site = "monitor: {name: dom1, layer: domain}\nserver:\n  jetstream: {domain: dom1}\n  leaf:\n    remotes:\n" +
		"      - url: nats-leaf://10.0.0.1:7422\n        tls: {ca: ca.crt, cert: dom1.crt, key: dom1.key, crl: crl.pem}\n"
	const hub = "monitor: {name: ent, layer: enterprise}\nserver:\n  listen: 127.0.0.1:4222\n" +
		"  tls: {cert: ent.crt, key: ent.key, client_ca: ca.crt, crl: crl.pem}\n  leaf: {listen: 0.0.0.0:7422}\n"
	for name, doc := range map[string]string{"site": site, "enterprise": hub} {
		if err := load(doc); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	bad := []struct{ name, doc, want string }{
		{"listener without mutual TLS", "monitor: {name: ent}\nserver:\n  leaf: {listen: 127.0.0.1:7422}\n",
			"m.yaml:3:10: server.leaf.listen: accepting leaf nodes needs mutual TLS with Vigil's CA (on loopback too)"},
		{"listener off loopback without the CRL", "monitor: {name: ent}\nserver:\n  tls: {cert: ent.crt, key: ent.key}\n  leaf: {listen: 0.0.0.0:7422}\n",
			"server.leaf.listen: accepting leaf nodes needs mutual TLS with Vigil's CA (it is reachable from other machines)"},
		{"bad listen address", strings.Replace(hub, "0.0.0.0:7422", "7422", 1), `server.leaf.listen: want host:port, got "7422"`},
		{"listener on the client port", strings.Replace(hub, "0.0.0.0:7422", "127.0.0.1:4222", 1), "is also the client port"},
		{"remote with another scheme", strings.Replace(site, "nats-leaf://", "nats://", 1), `server.leaf.remotes[0].url: leaf URL "nats://10.0.0.1:7422": scheme "nats" (want nats-leaf or tls)`},
		{"remote without a port", strings.Replace(site, ":7422", "", 1), "no port"},
		{"remote with credentials", strings.Replace(site, "nats-leaf://", "nats-leaf://u:secret@", 1), "credentials in the URL"},
		{"remote without a certificate", strings.Replace(site, "cert: dom1.crt, key: dom1.key, ", "", 1), "server.leaf.remotes[0].tls.cert: missing: this site's monitor certificate"},
		{"remote off loopback without the CRL", strings.Replace(site, ", crl: crl.pem", "", 1), "server.leaf.remotes[0].tls.crl: missing: 10.0.0.1 is reachable from other machines"},
		{"remote with a missing file", strings.Replace(site, "ca.crt", "nope.crt", 1), `server.leaf.remotes[0].tls.ca: cannot read "nope.crt"`},
		{"remote without a JetStream domain", strings.Replace(site, "  jetstream: {domain: dom1}\n", "", 1), "server.jetstream.domain: missing: a bus joined to another as a leaf node needs its own JetStream domain"},
		{"bad domain", strings.Replace(site, "domain: dom1}", "domain: \"dom.1\"}", 1), `server.jetstream.domain: name "dom.1": character '.' not allowed`},
		{"remote without a URL", "monitor: {name: d}\nserver:\n  jetstream: {domain: d}\n  leaf:\n    remotes:\n      - tls: {ca: ca.crt, cert: dom1.crt, key: dom1.key}\n", `server.leaf.remotes[0]: missing "url"`},
	}
	for _, c := range bad {
		err := load(c.doc)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v\nwant %q", c.name, err, c.want)
		}
	}
}
