package web

import (
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// Whether or not a request needs a login (session.go), the server must
// not do what a page of another site in an operator's browser asks of it
// (the browser would send the operator's cookie, or reach a loopback
// server that needs no login). Two rules keep pages out:
//
//   - Host: every request must name this server by a loopback name, an IP
//     address, the listen address, the machine's name or a name in
//     Options.AllowedHosts. A page at a name its attacker controls, which
//     that attacker later points at 127.0.0.1 (DNS rebinding), sends its
//     own name and is refused, for reads as well as writes.
//   - Origin: a request that changes state (any method but GET, HEAD and
//     OPTIONS) is refused when it comes from a page of another origin: an
//     Origin header other than this server's own (scheme, host and port of
//     the request), or a Sec-Fetch-Site other than same-origin or none.
//     A browser always sends Origin with a cross-origin POST; a request
//     with neither header comes from a program (curl, a sensor, a script)
//     and is accepted.
//
// Submissions must besides say they are JSON (submitTypes), which no
// form or simple cross-origin request can.

// guard refuses requests of other origins and requests naming a host that
// is not this server.
func (s *Server) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.checkHost(r.Host); err != nil {
			s.refused(w, r, err)
			return
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
		default:
			if err := checkOrigin(r); err != nil {
				s.refused(w, r, err)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

func (s *Server) refused(w http.ResponseWriter, r *http.Request, err error) {
	s.o.Logger.Warn("http: request refused", "method", r.Method, "path", r.URL.Path, "host", r.Host, "origin", r.Header.Get("Origin"), "remote", r.RemoteAddr, "err", err)
	writeError(w, http.StatusForbidden, err)
}

// allowedHosts lists the names (lower case, without port) a request may
// give in Host besides loopback names and IP addresses.
func allowedHosts(listen string, extra []string) map[string]bool {
	m := map[string]bool{}
	if h, _, err := net.SplitHostPort(listen); err == nil && h != "" {
		m[strings.ToLower(h)] = true
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		m[strings.ToLower(h)] = true
	}
	for _, h := range extra {
		if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
			m[h] = true
		}
	}
	return m
}

// checkHost accepts a Host header that names this server: a loopback name
// (localhost, *.localhost), an IP address (a rebinding attack needs a
// name), or one of the allowed names.
func (s *Server) checkHost(hostport string) error {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	switch {
	case host == "":
		return errors.New("the request names no host")
	case host == "localhost" || strings.HasSuffix(host, ".localhost"):
		return nil
	case net.ParseIP(host) != nil:
		return nil
	case s.allowHosts[host]:
		return nil
	}
	return fmt.Errorf("host %q is not a name of this server (use 127.0.0.1, localhost, the listen address, or add the name to the allowed hosts)", truncateHeader(hostport))
}

// checkOrigin refuses a state-changing request sent by a page of another
// origin.
func checkOrigin(r *http.Request) error {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return fmt.Errorf("cross-site request refused (Sec-Fetch-Site: %s)", truncateHeader(site))
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("cross-origin request refused (Origin %q)", truncateHeader(origin))
	}
	if !strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https") || !strings.EqualFold(withPort(u.Host, u.Scheme), withPort(r.Host, u.Scheme)) {
		return fmt.Errorf("cross-origin request refused (Origin %q is not this server's %q)", truncateHeader(origin), "http://"+truncateHeader(r.Host))
	}
	return nil
}

// withPort adds the scheme's default port to a host without one.
func withPort(host, scheme string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	if strings.EqualFold(scheme, "https") {
		return net.JoinHostPort(strings.Trim(host, "[]"), "443")
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), "80")
}

// submitTypes are the media types POST /api/events accepts.
var submitTypes = []string{"application/x-ndjson", "application/jsonl", "application/json"}

// checkSubmitType refuses a submission that does not say it is JSON, as
// a form or a cross-origin "simple" request (text/plain) would.
func checkSubmitType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return fmt.Errorf("Content-Type missing: send %s", strings.Join(submitTypes, " or "))
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil {
		for _, t := range submitTypes {
			if mt == t {
				return nil
			}
		}
	}
	return fmt.Errorf("Content-Type %q refused: send %s", truncateHeader(ct), strings.Join(submitTypes, " or "))
}

// truncateHeader bounds a header value quoted in an error.
func truncateHeader(s string) string {
	if len(s) > 100 {
		return s[:100] + "..."
	}
	return s
}
