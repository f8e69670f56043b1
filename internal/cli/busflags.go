package cli

import (
	"github.com/spf13/pflag"

	"github.com/vigil-ids/vigil/internal/config"
)

// busFlags are the flags that say how to reach the bus; those given
// override the resource object's bus section.
type busFlags struct {
	fs                                                            *pflag.FlagSet
	url, user, passwordFile, creds, nkey, identity, ca, cert, key string
	crl                                                           string
}

func (b *busFlags) register(fs *pflag.FlagSet) {
	b.fs = fs
	fs.StringVar(&b.url, "bus", config.DefaultBusURL, "bus URL(s), comma-separated: nats://host:port or tls://host:port (default: the resource object's bus, else this)")
	fs.StringVar(&b.user, "bus-user", "", "bus user name")
	fs.StringVar(&b.passwordFile, "bus-password-file", "", "file holding the bus user's password")
	fs.StringVar(&b.creds, "bus-creds", "", "NATS credentials file (JWT and NKey seed)")
	fs.StringVar(&b.nkey, "bus-nkey", "", "file holding an NKey seed")
	fs.StringVar(&b.identity, "bus-identity", "", "identity file a monitor wrote in its data directory: bus/sensor.json for sensors, bus/monitor.json for monitors (default: that under ./vigil-data, when there)")
	fs.StringVar(&b.ca, "bus-ca", "", "CA bundle that signs the bus server's certificate")
	fs.StringVar(&b.cert, "bus-cert", "", "client certificate for the bus")
	fs.StringVar(&b.key, "bus-key", "", "client certificate key for the bus")
	fs.StringVar(&b.crl, "bus-crl", "", "CRL of the bus CA (with --bus-ca): the server's certificate is checked against it, failing closed")
}

// apply lays the flags that were given over the resource object's section
// (its paths resolved with resolve, when given); with no URL anywhere, the
// bus is config.DefaultBusURL.
func (b *busFlags) apply(c config.BusClient, resolve func(string) string) config.BusClient {
	for _, f := range []struct {
		name string
		dst  *string
		v    string
	}{
		{"bus", &c.URL, b.url}, {"bus-user", &c.User, b.user}, {"bus-password-file", &c.PasswordFile, b.passwordFile},
		{"bus-creds", &c.Creds, b.creds}, {"bus-nkey", &c.NKey, b.nkey}, {"bus-identity", &c.Identity, b.identity}, {"bus-ca", &c.TLS.CA, b.ca},
		{"bus-cert", &c.TLS.Cert, b.cert}, {"bus-key", &c.TLS.Key, b.key}, {"bus-crl", &c.TLS.CRL, b.crl},
	} {
		set(b.fs.Changed(f.name), f.dst, f.v)
	}
	if c.URL == "" {
		c.URL = config.DefaultBusURL
	}
	if resolve != nil {
		for _, p := range []*string{&c.PasswordFile, &c.Creds, &c.NKey, &c.Identity, &c.TLS.CA, &c.TLS.Cert, &c.TLS.Key, &c.TLS.CRL} {
			*p = resolve(*p)
		}
	}
	return c
}
