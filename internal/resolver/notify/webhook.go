package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/resolver/action"
)

// The headers a webhook POST carries besides the custom ones.
const (
	// HeaderTimestamp is the time of the try, in seconds since the epoch.
	HeaderTimestamp = "X-Vigil-Timestamp"
	// HeaderSignature is "v1=" and the hex HMAC-SHA256, under the key of
	// secret_file, of the timestamp, a dot and the body.
	HeaderSignature = "X-Vigil-Signature"
	// HeaderDelivery is the decision's id, the same on every try, so that
	// a receiver can drop a repeat.
	HeaderDelivery = "X-Vigil-Delivery"
	// HeaderFormat is the body's format: vigil or ocsf.
	HeaderFormat = "X-Vigil-Format"
)

// maxSecretBytes bounds a webhook key file.
const maxSecretBytes = 4096

// WebhookSettings are a webhook method's section of a resource object.
type WebhookSettings struct {
	// URL receives the POST.
	URL string `yaml:"url"`
	// SecretFile holds the HMAC key (surrounding white space is dropped).
	// It must not be readable by group or others.
	SecretFile string `yaml:"secret_file"`
	// Headers are added to every POST (an Authorization, say). Their
	// values are never shown in plans or logs.
	Headers map[string]string `yaml:"headers"`
	// CAFile, when set, is the only set of roots a https server's
	// certificate is verified against; verification is always on.
	CAFile string `yaml:"ca_file"`
	Format string `yaml:"format"`
	Retry  `yaml:",inline"`

	base string
}

func newWebhookSettings() config.Settings {
	return &WebhookSettings{Format: FormatVigil, Retry: defaultRetry()}
}

// Validate checks the URL, the key file and its permissions, the headers,
// the CA file and the retry settings.
func (s *WebhookSettings) Validate(p *config.Problems, path string) {
	s.base = p.BaseDir
	checkURL(p, config.Join(path, "url"), s.URL)
	if s.SecretFile == "" {
		p.Addf(config.Join(path, "secret_file"), "missing: a file holding the HMAC key (mode 0600 or stricter)")
	} else if _, err := readSecret(action.Deps{}.Path(s.base, s.SecretFile)); err != nil {
		p.Addf(config.Join(path, "secret_file"), "%v", err)
	}
	checkHeaders(p, config.Join(path, "headers"), s.Headers)
	action.CheckCAFile(p, config.Join(path, "ca_file"), action.Deps{}.Path(s.base, s.CAFile))
	validFormat(p, path, s.Format)
	s.Retry.validate(p, path)
}

// readSecret reads a key file, refusing one that group or others may read.
func readSecret(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s has mode %04o: a key file must not be readable or writable by group or others (chmod 600)", path, st.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSecretBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxSecretBytes {
		return nil, fmt.Errorf("%s is longer than %d bytes", path, maxSecretBytes)
	}
	b = bytes.TrimSpace(b)
	if len(b) < 16 {
		return nil, fmt.Errorf("%s holds a key of %d bytes; use at least 16 (say, openssl rand -hex 32)", path, len(b))
	}
	return b, nil
}

func webhookFactory() action.Factory {
	return action.Factory{
		Kind:        KindWebhook,
		NewSettings: newWebhookSettings,
		New: func(_ context.Context, cs config.Settings, deps action.Deps) (action.Method, error) {
			s, ok := cs.(*WebhookSettings)
			if !ok {
				return nil, fmt.Errorf("webhook: settings of type %T", cs)
			}
			return newWebhook(s, deps)
		},
	}
}

// Webhook POSTs each decision as signed JSON.
type Webhook struct {
	url    *url.URL
	key    []byte
	format string
	post   *poster
	clock  clock.Clock
	deps   action.Deps
}

var (
	_ action.Method = (*Webhook)(nil)
	_ action.Closer = (*Webhook)(nil)
)

func newWebhook(s *WebhookSettings, deps action.Deps) (*Webhook, error) {
	u, err := url.Parse(s.URL)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	key, err := readSecret(deps.Path(s.base, s.SecretFile))
	if err != nil {
		return nil, fmt.Errorf("secret_file: %w", err)
	}
	log := deps.Logger
	if log != nil {
		log = log.With("response", deps.Name)
	}
	p, err := newPoster(KindWebhook, deps.Path(s.base, s.CAFile), s.Retry, s.Headers, log)
	if err != nil {
		return nil, err
	}
	return &Webhook{url: u, key: key, format: s.Format, post: p, clock: clockOf(deps), deps: deps}, nil
}

// Plan says where the body would go and shows it.
func (w *Webhook) Plan(req action.Request) (string, error) {
	body, err := render(w.format, req, w.deps.Monitor)
	if err != nil {
		return "", err
	}
	extra := ""
	if h := headerNames(w.post.headers); h != "" {
		extra = ", headers " + h
	}
	return fmt.Sprintf("POST %d bytes (%s) to %s, signed with HMAC-SHA256 in %s%s, up to %d tries: %s",
		len(body), w.format, redactURL(w.url), HeaderSignature, extra, w.post.retry.Retries+1, preview(body)), nil
}

// Execute POSTs the decision, retrying as configured.
func (w *Webhook) Execute(ctx context.Context, req action.Request) (action.Outcome, error) {
	if req.ID == "" {
		return action.Outcome{}, errors.New("webhook: request without an id")
	}
	body, err := render(w.format, req, w.deps.Monitor)
	if err != nil {
		return action.Outcome{}, err
	}
	sign := func(h http.Header, body []byte) {
		ts := strconv.FormatInt(w.clock.Now().Unix(), 10)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, "v1="+Sign(w.key, ts, body))
		h.Set(HeaderDelivery, req.ID)
		h.Set(HeaderFormat, w.format)
	}
	status, tries, err := w.post.post(ctx, w.url, body, sign)
	if err != nil {
		return action.Outcome{}, err
	}
	return action.Outcome{Detail: fmt.Sprintf("POSTed %d bytes (%s) to %s: %s after %d %s",
		len(body), w.format, redactURL(w.url), status, tries, plural(tries, "try", "tries"))}, nil
}

// Close releases idle connections.
func (w *Webhook) Close() error {
	w.post.close()
	return nil
}

// Sign returns the hex HMAC-SHA256 under key of timestamp, ".", body: what
// a receiver recomputes to check HeaderSignature.
func Sign(key []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
