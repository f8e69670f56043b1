package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/resolver/action"
)

// poster POSTs JSON bodies with retries: the webhook's and Alertmanager's
// transport.
type poster struct {
	kind    string
	client  *http.Client
	retry   Retry
	headers map[string]string
	log     *slog.Logger
}

// newPoster builds a poster whose client verifies TLS servers (against
// caFile when given) and never follows a redirect.
func newPoster(kind, caFile string, retry Retry, headers map[string]string, log *slog.Logger) (*poster, error) {
	tc, err := action.ClientTLS(caFile, "")
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	tr.Proxy = nil
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &poster{
		kind: kind,
		client: &http.Client{
			Transport: tr,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		retry: retry, headers: headers, log: log,
	}, nil
}

func (p *poster) close() { p.client.CloseIdleConnections() }

// retryAfterError is a 429 or 503 answer that said when to try again.
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// permanentError is a failure that another try would not mend (a 4xx
// answer, a certificate that does not verify).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// post sends body to u, retrying on network errors, timeouts, 429 and 5xx
// answers with back-off, until a try succeeds, the retries are spent, or
// ctx ends. sign, when given, adds headers to each try. It returns the
// status of the answer that succeeded and how many tries it took.
func (p *poster) post(ctx context.Context, u *url.URL, body []byte, sign func(h http.Header, body []byte)) (string, int, error) {
	where := redactURL(u)
	var lastErr error
	tries := 0
	for n := 0; n <= p.retry.Retries; n++ {
		if n > 0 {
			wait := p.retry.pause(n)
			var ra *retryAfterError
			if errors.As(lastErr, &ra) {
				wait = max(wait, min(ra.after, p.retry.MaxBackoff))
			}
			p.log.Warn("notification failed; retrying", "kind", p.kind, "url", where, "try", n, "wait", wait, "err", lastErr)
			if err := sleep(ctx, wait); err != nil {
				return "", tries, fmt.Errorf("%s: POST to %s: stopped after %d tries (%w); last failure: %v", p.kind, where, tries, err, lastErr)
			}
		}
		tries++
		status, err := p.try(ctx, u, body, sign)
		if err == nil {
			return status, tries, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			return "", tries, fmt.Errorf("%s: POST to %s: stopped after %d tries: %w", p.kind, where, tries, ctx.Err())
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			return "", tries, fmt.Errorf("%s: POST to %s: %w", p.kind, where, err)
		}
	}
	return "", tries, fmt.Errorf("%s: POST to %s: gave up after %d tries: %w", p.kind, where, tries, lastErr)
}

// try is one POST bounded by the retry timeout.
func (p *poster) try(ctx context.Context, u *url.URL, body []byte, sign func(h http.Header, body []byte)) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, p.retry.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return "", &permanentError{err}
	}
	for k, v := range p.headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vigil/"+Version)
	if sign != nil {
		sign(req.Header, body)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		var cv *tls.CertificateVerificationError
		var ua x509.UnknownAuthorityError
		var hn x509.HostnameError
		if errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) {
			return "", &permanentError{fmt.Errorf("TLS: %w", stripURL(err))}
		}
		return "", stripURL(err)
	}
	defer resp.Body.Close()
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return resp.Status, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		err := fmt.Errorf("answer %q", resp.Status)
		if secs, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && secs > 0 {
			return "", &retryAfterError{err, time.Duration(secs) * time.Second}
		}
		return "", err
	}
	return "", &permanentError{fmt.Errorf("answer %q: %q", resp.Status, action.Clip(string(excerpt), 200))}
}

// stripURL keeps a url.Error's cause: its URL may carry tokens.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// reservedHeaders are set by the method itself.
var reservedHeaders = map[string]bool{
	"Content-Type": true, "Content-Length": true, "Host": true, "User-Agent": true,
	"Transfer-Encoding": true, "Connection": true,
}

// checkHeaders validates custom headers.
func checkHeaders(p *config.Problems, path string, h map[string]string) {
	for k, v := range h {
		kp := config.Join(path, k)
		ck := http.CanonicalHeaderKey(k)
		switch {
		case !headerToken(k):
			p.Addf(kp, "not a header name")
		case reservedHeaders[ck] || strings.HasPrefix(ck, "X-Vigil-"):
			p.Addf(kp, "%s is set by the method itself", ck)
		case strings.ContainsAny(v, "\r\n\x00"):
			p.Addf(kp, "a header value must not hold a line break or NUL")
		}
	}
}

func headerToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

// headerNames lists header names, sorted, for plans (values may be
// credentials).
func headerNames(h map[string]string) string {
	if len(h) == 0 {
		return ""
	}
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, http.CanonicalHeaderKey(k))
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
