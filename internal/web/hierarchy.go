package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/hierarchy"
	"github.com/vigil-ids/vigil/internal/probemsg"
)

// Hierarchy is a running monitor's place in the hierarchy (the monitor
// implements it): itself, its children's health from their heartbeats,
// and probes of a child through the monitor's own bus connection.
type Hierarchy interface {
	Place() hierarchy.Place
	Children() []hierarchy.Child
	HeartbeatCounts() hierarchy.Counts
	ProbeChild(ctx context.Context, child string, req probemsg.Request, timeout time.Duration) (probemsg.Reply, error)
}

// probeTimeout bounds a probe proxied by GET /api/probe.
const probeTimeout = 5 * time.Second

// maxProbes bounds the probes proxied at once; one more is answered 429.
const maxProbes = 4

// hierarchyView is the answer of GET /api/hierarchy.
type hierarchyView struct {
	Self       hierarchy.Place   `json:"self"`
	Children   []hierarchy.Child `json:"children"`
	Heartbeats hierarchy.Counts  `json:"heartbeats"`
}

// getHierarchy answers with the monitor's place and its children's
// health.
func (s *Server) getHierarchy(w http.ResponseWriter, r *http.Request) {
	if len(r.URL.Query()) > 0 {
		writeError(w, http.StatusBadRequest, errors.New("GET /api/hierarchy takes no parameters"))
		return
	}
	if s.o.Hierarchy == nil {
		writeError(w, http.StatusServiceUnavailable, errors.New("no running monitor"))
		return
	}
	v := hierarchyView{Self: s.o.Hierarchy.Place(), Children: s.o.Hierarchy.Children(), Heartbeats: s.o.Hierarchy.HeartbeatCounts()}
	if v.Children == nil {
		v.Children = []hierarchy.Child{}
	}
	if v.Self.Peers == nil {
		v.Self.Peers = []string{}
	}
	writeJSON(w, http.StatusOK, v)
}

// getProbe sends a probe to one of the monitor's children, or through it
// further down (via: the path below the child, comma-separated), and
// answers with the reply: 200 when found, 404 when the monitor asked
// holds no such subject or report (or a hop is no child of the one
// before), 502 when it refused or failed, 504 when it, or a hop, did not
// answer in time.
func (s *Server) getProbe(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k, v := range q {
		switch k {
		case "monitor", "kind", "subject", "report", "limit", "via":
			if len(v) > 1 {
				writeError(w, http.StatusBadRequest, fmt.Errorf("parameter %q given %d times", k, len(v)))
				return
			}
		default:
			writeError(w, http.StatusBadRequest, errors.New("unknown parameter "+strconv.Quote(k)))
			return
		}
	}
	if s.o.Hierarchy == nil {
		writeError(w, http.StatusServiceUnavailable, errors.New("no running monitor"))
		return
	}
	child := q.Get("monitor")
	if child == "" {
		writeError(w, http.StatusBadRequest, errors.New(`missing "monitor": the child to probe`))
		return
	}
	req := probemsg.Request{Version: probemsg.Version, ID: s.o.IDs.NewID(s.o.Clock.Now()), Kind: q.Get("kind"), Subject: q.Get("subject"), Report: q.Get("report")}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("limit %q: not a number", l))
			return
		}
		req.Limit = n
	}
	if v := q.Get("via"); v != "" {
		req.Via = strings.Split(v, ",")
	}
	if err := req.Check(); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	select {
	case s.probes <- struct{}{}:
		defer func() { <-s.probes }()
	default:
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, fmt.Errorf("%d probes already in flight", maxProbes))
		return
	}
	rep, err := s.o.Hierarchy.ProbeChild(r.Context(), child, req, probeTimeout)
	switch {
	case errors.Is(err, hierarchy.ErrNotChild):
		writeError(w, http.StatusNotFound, err)
		return
	case err != nil:
		writeError(w, http.StatusGatewayTimeout, err)
		return
	}
	code := http.StatusOK
	switch rep.Status {
	case probemsg.StatusNotFound:
		code = http.StatusNotFound
	case probemsg.StatusRefused, probemsg.StatusFailed:
		code = http.StatusBadGateway
	case probemsg.StatusUnreachable:
		code = http.StatusGatewayTimeout
	}
	writeRaw(w, code, append(probemsg.Encode(rep), '\n'))
}
