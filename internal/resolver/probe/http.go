package probe

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/resolver/action"
)

// Defaults and bounds of an http-probe.
const (
	DefaultHTTPStatus   = http.StatusOK
	DefaultMaxBodyBytes = 1 << 20
	DefaultHTTPTimeout  = 5 * time.Second
	maxMaxBodyBytes     = 1 << 30
	maxHTTPTimeout      = 10 * time.Minute
)

// HostPlaceholder in an http-probe's URL is replaced by the decision's
// subject host; a URL holding it makes the method need a host.
const HostPlaceholder = "{host}"

// HTTPSettings are an http-probe's section of a resource object.
type HTTPSettings struct {
	// URL is fetched with GET (http or https). It may hold {host}, which
	// is replaced by the decision's subject host (a host name or an
	// address; anything else is refused).
	URL string `yaml:"url"`
	// Status is the status code expected.
	Status int `yaml:"status"`
	// BodySHA256, when set, is the hex SHA-256 the body must have.
	BodySHA256 string `yaml:"body_sha256"`
	// MaxBodyBytes bounds the body read; a longer body fails the probe.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// Timeout bounds the whole exchange, body included. Its default is
	// below the decision unit's deadline for an action (10s), so that the
	// probe's own timeout is what a slow server meets.
	Timeout time.Duration `yaml:"timeout"`
	// Host, when set, is sent as the Host header and is the name a https
	// server's certificate is checked against.
	Host string `yaml:"host"`
	// CAFile, when set, is the only set of roots a https server's
	// certificate is verified against; verification is always on.
	CAFile string `yaml:"ca_file"`

	base string
}

func newHTTPSettings() config.Settings {
	return &HTTPSettings{Status: DefaultHTTPStatus, MaxBodyBytes: DefaultMaxBodyBytes, Timeout: DefaultHTTPTimeout}
}

// Needs implements config.SubjectNeeder: a URL holding {host} needs the
// subject's host; any other needs nothing.
func (s *HTTPSettings) Needs() []string {
	if strings.Contains(s.URL, HostPlaceholder) {
		return []string{"host"}
	}
	return nil
}

// Validate checks the URL, the expected status and hash, the bounds, the
// Host header and the CA file.
func (s *HTTPSettings) Validate(p *config.Problems, path string) {
	s.base = p.BaseDir
	checkProbeURL(p, config.Join(path, "url"), s.URL)
	if s.Status < 100 || s.Status > 599 {
		p.Addf(config.Join(path, "status"), "%d is not an HTTP status (100 to 599)", s.Status)
	}
	if s.BodySHA256 != "" && !isHex(s.BodySHA256, sha256.Size*2) {
		p.Addf(config.Join(path, "body_sha256"), "want 64 hex digits (sha256sum's output), got %q", action.Clip(s.BodySHA256, 80))
	}
	if s.MaxBodyBytes < 1 || s.MaxBodyBytes > maxMaxBodyBytes {
		p.Addf(config.Join(path, "max_body_bytes"), "must be between 1 and %d", maxMaxBodyBytes)
	}
	if s.Timeout <= 0 || s.Timeout > maxHTTPTimeout {
		p.Addf(config.Join(path, "timeout"), "must be between 1ns and %s", maxHTTPTimeout)
	}
	if s.Host != "" && !validHostHeader(s.Host) {
		p.Addf(config.Join(path, "host"), "%q is not a host name, optionally with a port", action.Clip(s.Host, 80))
	}
	action.CheckCAFile(p, config.Join(path, "ca_file"), action.Deps{}.Path(s.base, s.CAFile))
}

// checkProbeURL validates the url setting, with {host} standing for a
// host name.
func checkProbeURL(p *config.Problems, path, raw string) {
	if raw == "" {
		p.Addf(path, "missing: an http:// or https:// URL")
		return
	}
	u, err := url.Parse(strings.ReplaceAll(raw, HostPlaceholder, "host.invalid"))
	switch {
	case err != nil:
		p.Addf(path, "not a URL: %v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		p.Addf(path, "scheme %q: want http or https", action.Clip(u.Scheme, 16))
	case u.Host == "":
		p.Addf(path, "no host in %q", action.Clip(raw, 200))
	case u.User != nil:
		p.Addf(path, "user information in the URL is not supported (it would show in plans and outcomes)")
	}
}

// validHost reports whether h is a DNS name or an IP address, the only
// things {host} may become.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if _, err := netipParse(h); err == nil {
		return true
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// validHostHeader reports whether h is a host, optionally with a port.
func validHostHeader(h string) bool {
	if validHost(h) {
		return true
	}
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n > 0 && n < 65536 && validHost(host)
}

func httpFactory() action.Factory {
	return action.Factory{
		Kind:        KindHTTP,
		NewSettings: newHTTPSettings,
		New: func(_ context.Context, cs config.Settings, deps action.Deps) (action.Method, error) {
			s, ok := cs.(*HTTPSettings)
			if !ok {
				return nil, fmt.Errorf("%s: settings of type %T", KindHTTP, cs)
			}
			return newHTTPProbe(s, deps)
		},
	}
}

// HTTPProbe fetches a URL and checks its status and body.
type HTTPProbe struct {
	s      HTTPSettings
	client *http.Client
}

var (
	_ action.Method = (*HTTPProbe)(nil)
	_ action.Closer = (*HTTPProbe)(nil)
)

func newHTTPProbe(s *HTTPSettings, deps action.Deps) (*HTTPProbe, error) {
	serverName := ""
	if s.Host != "" {
		serverName = s.Host
		if h, _, err := net.SplitHostPort(serverName); err == nil {
			serverName = h
		}
	}
	tc, err := action.ClientTLS(deps.Path(s.base, s.CAFile), serverName)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy:               nil,
		TLSClientConfig:     tc,
		DialContext:         (&net.Dialer{Timeout: s.Timeout}).DialContext,
		TLSHandshakeTimeout: s.Timeout,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	client := &http.Client{
		Transport: tr,
		// A probe checks what the URL itself answers: a redirect is its
		// answer (a status the settings may expect), never followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &HTTPProbe{s: *s, client: client}, nil
}

// target is the URL to fetch for req, with {host} replaced.
func (h *HTTPProbe) target(req action.Request) (*url.URL, error) {
	raw := h.s.URL
	if strings.Contains(raw, HostPlaceholder) {
		host := req.Subject.Host
		if host == "" {
			return nil, fmt.Errorf("%s: the URL names {host} and the decision's subject has no host", KindHTTP)
		}
		if !validHost(host) {
			return nil, fmt.Errorf("%s: subject host %q is not a host name or an address; not probed", KindHTTP, action.Clip(host, 80))
		}
		if a, err := netipParse(host); err == nil && a.Is6() && !a.Is4In6() {
			host = "[" + host + "]"
		}
		raw = strings.ReplaceAll(raw, HostPlaceholder, host)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: url: %w", KindHTTP, err)
	}
	return u, nil
}

// expectation says what the probe expects, for plans and outcomes.
func (h *HTTPProbe) expectation() string {
	e := fmt.Sprintf("status %d", h.s.Status)
	if h.s.BodySHA256 != "" {
		e += ", body SHA-256 " + strings.ToLower(h.s.BodySHA256)
	}
	return e + fmt.Sprintf(", body at most %d bytes", h.s.MaxBodyBytes)
}

// Plan says what would be fetched and what is expected.
func (h *HTTPProbe) Plan(req action.Request) (string, error) {
	u, err := h.target(req)
	if err != nil {
		return "", err
	}
	hdr := ""
	if h.s.Host != "" {
		hdr = fmt.Sprintf(" with Host %s", h.s.Host)
	}
	verify := ""
	if u.Scheme == "https" {
		verify = ", certificate verified against the system roots"
		if h.s.CAFile != "" {
			verify = ", certificate verified against " + h.s.CAFile
		}
	}
	return fmt.Sprintf("GET %s%s within %s%s, redirects not followed; expect %s",
		u, hdr, h.s.Timeout, verify, h.expectation()), nil
}

// Execute fetches the URL and compares. A mismatch is an error wrapping
// *ErrMismatch; a failure to fetch is an error wrapping none.
func (h *HTTPProbe) Execute(ctx context.Context, req action.Request) (action.Outcome, error) {
	u, err := h.target(req)
	if err != nil {
		return action.Outcome{}, err
	}
	target := u.String()
	ctx, cancel := context.WithTimeout(ctx, h.s.Timeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return action.Outcome{}, fmt.Errorf("%s: %w", KindHTTP, err)
	}
	if h.s.Host != "" {
		hr.Host = h.s.Host
	}
	hr.Header.Set("User-Agent", "vigil-http-probe")
	resp, err := h.client.Do(hr)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // it repeats the method and the URL
		}
		return action.Outcome{}, fmt.Errorf("%s: GET %s: %w", KindHTTP, target, err)
	}
	defer resp.Body.Close()
	sum := sha256.New()
	n, err := io.Copy(sum, io.LimitReader(resp.Body, h.s.MaxBodyBytes+1))
	if err != nil {
		return action.Outcome{}, fmt.Errorf("%s: GET %s: reading the body after %d bytes: %w", KindHTTP, target, n, err)
	}
	var diffs []error
	if resp.StatusCode != h.s.Status {
		diffs = append(diffs, &ErrMismatch{Target: target, What: "status", Want: strconv.Itoa(h.s.Status), Got: strconv.Itoa(resp.StatusCode)})
	}
	got := hex.EncodeToString(sum.Sum(nil))
	switch {
	case n > h.s.MaxBodyBytes:
		diffs = append(diffs, &ErrMismatch{Target: target, What: "body size", Want: fmt.Sprintf("at most %d bytes", h.s.MaxBodyBytes), Got: "more"})
	case h.s.BodySHA256 != "" && !strings.EqualFold(got, h.s.BodySHA256):
		diffs = append(diffs, &ErrMismatch{Target: target, What: "body sha256", Want: strings.ToLower(h.s.BodySHA256), Got: got})
	}
	if len(diffs) > 0 {
		err := fmt.Errorf("%s: %w", KindHTTP, errors.Join(diffs...))
		return action.Outcome{Detail: "fail: " + err.Error()}, err
	}
	detail := fmt.Sprintf("pass: GET %s answered %d with %d bytes", target, resp.StatusCode, n)
	if h.s.BodySHA256 != "" {
		detail += " of SHA-256 " + got
	}
	return action.Outcome{Detail: detail}, nil
}

// Close releases idle connections.
func (h *HTTPProbe) Close() error {
	h.client.CloseIdleConnections()
	return nil
}
