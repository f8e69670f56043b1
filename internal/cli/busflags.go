package cli

import (
	"github.com/spf13/pflag"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/config"
)

// busFlags are the flags that say how to reach the bus; they override the
// resource object's bus section.
type busFlags struct {
	url, user, passwordFile, creds, nkey, ca, cert, key string
}

func (b *busFlags) register(fs *pflag.FlagSet, defaultURL string) {
	fs.StringVar(&b.url, "bus", defaultURL, "bus URL(s), comma-separated: nats://host:port or tls://host:port")
	fs.StringVar(&b.user, "bus-user", "", "bus user name")
	fs.StringVar(&b.passwordFile, "bus-password-file", "", "file holding the bus user's password")
	fs.StringVar(&b.creds, "bus-creds", "", "NATS credentials file (JWT and NKey seed)")
	fs.StringVar(&b.nkey, "bus-nkey", "", "file holding an NKey seed")
	fs.StringVar(&b.ca, "bus-ca", "", "CA bundle that signs the bus server's certificate")
	fs.StringVar(&b.cert, "bus-cert", "", "client certificate for the bus")
	fs.StringVar(&b.key, "bus-key", "", "client certificate key for the bus")
}

// apply lays the flags that were given over the resource object's section.
func (b *busFlags) apply(c config.BusClient, resolve func(string) string) config.BusClient {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&c.URL, b.url)
	set(&c.User, b.user)
	set(&c.PasswordFile, b.passwordFile)
	set(&c.Creds, b.creds)
	set(&c.NKey, b.nkey)
	set(&c.TLS.CA, b.ca)
	set(&c.TLS.Cert, b.cert)
	set(&c.TLS.Key, b.key)
	if resolve != nil {
		for _, p := range []*string{&c.PasswordFile, &c.Creds, &c.NKey, &c.TLS.CA, &c.TLS.Cert, &c.TLS.Key} {
			*p = resolve(*p)
		}
	}
	return c
}

// clientOptions turns a bus section into connection options.
func clientOptions(c config.BusClient, name string) (bus.ClientOptions, error) {
	o := bus.ClientOptions{
		URL: c.URL, Name: name, User: c.User, Password: c.Password, CredsFile: c.Creds, NKeyFile: c.NKey,
		CAFile: c.TLS.CA, CertFile: c.TLS.Cert, KeyFile: c.TLS.Key, ServerName: c.TLS.ServerName,
	}
	if c.PasswordFile != "" {
		pw, err := bus.ReadPassword(c.PasswordFile)
		if err != nil {
			return o, err
		}
		o.Password = pw
	}
	return o, nil
}
