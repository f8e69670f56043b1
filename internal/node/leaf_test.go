package node

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// The embedded server's options carry the resource object's JetStream
// domain and leaf nodes: files resolved against the object's directory,
// a remote's comma-separated URLs split, and a name of its own (servers
// joined by leaf nodes tell each other apart by it).
func TestServerOptionsLeaf(t *testing.T) {
	cfg := config.Default()
	cfg.File = "/etc/vigil/domain.yaml"
	cfg.Monitor.Name = "dom1"
	cfg.Server.JetStream.Domain = "dom1"
	cfg.Server.Leaf.Remotes = []config.LeafRemote{{
		URL: "nats-leaf://10.0.0.1:7422, nats-leaf://10.0.0.2:7422",
		TLS: config.ClientTLS{CA: "pki/ca.crt", Cert: "dom1.crt", Key: "/abs/dom1.key", CRL: "pki/crl.pem", ServerName: "hub"},
	}}
	so, _, err := ServerOptions(cfg, t.TempDir(), testutil.Quiet())
	if err != nil {
		t.Fatal(err)
	}
	want := bus.LeafOptions{Remotes: []bus.LeafRemote{{
		URLs:   []string{"nats-leaf://10.0.0.1:7422", "nats-leaf://10.0.0.2:7422"},
		CAFile: filepath.FromSlash("/etc/vigil/pki/ca.crt"), CertFile: "/etc/vigil/dom1.crt", KeyFile: "/abs/dom1.key",
		CRLFile: "/etc/vigil/pki/crl.pem", ServerName: "hub",
	}}}
	if !reflect.DeepEqual(so.Leaf, want) {
		t.Errorf("leaf options %+v\nwant %+v", so.Leaf, want)
	}
	if so.JetStreamDomain != "dom1" || so.Name != "vigil-dom1" {
		t.Errorf("domain %q, name %q", so.JetStreamDomain, so.Name)
	}

	plain := config.Default()
	plain.Monitor.Name = "local"
	so, _, err = ServerOptions(plain, t.TempDir(), testutil.Quiet())
	if err != nil {
		t.Fatal(err)
	}
	if so.Name != "" || so.JetStreamDomain != "" || so.Leaf.Listen != "" || len(so.Leaf.Remotes) != 0 {
		t.Errorf("a bus without leaf nodes: name %q, domain %q, leaf %+v", so.Name, so.JetStreamDomain, so.Leaf)
	}
}
