package store

import (
	"context"
	"fmt"
	"time"
)

// HostSeen is a host's latest observation: when, and the address it
// carried.
type HostSeen struct {
	Host string    `json:"host"`
	IP   string    `json:"ip"`
	Last time.Time `json:"last"`
}

// maxHosts bounds Hosts' rows.
const maxHosts = 10_000

// Hosts returns every host id among the stored events with the time and
// address of its latest event, ordered by host. It walks the host index
// one host at a time (a lookup per host, not a scan of the events).
func (s *Store) Hosts(ctx context.Context) ([]HostSeen, error) {
	if s.isClosing() {
		return nil, fmt.Errorf("store: hosts: %w", ErrClosed)
	}
	const q = `WITH RECURSIVE h(host) AS (
		SELECT min(host) FROM events
		UNION ALL
		SELECT (SELECT min(host) FROM events WHERE host > h.host) FROM h WHERE h.host IS NOT NULL
	)
	SELECT host,
		(SELECT ip FROM events e WHERE e.host = h.host ORDER BY time DESC LIMIT 1),
		(SELECT max(time) FROM events e WHERE e.host = h.host)
	FROM h WHERE host IS NOT NULL LIMIT ?`
	rows, err := s.rdb.QueryContext(ctx, q, maxHosts)
	if err != nil {
		return nil, fmt.Errorf("store: query hosts: %w", err)
	}
	defer rows.Close()
	var out []HostSeen
	for rows.Next() {
		var h HostSeen
		var ns int64
		if err := rows.Scan(&h.Host, &h.IP, &ns); err != nil {
			return nil, fmt.Errorf("store: read host row: %w", err)
		}
		h.Last = time.Unix(0, ns).UTC()
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: query hosts: %w", err)
	}
	return out, nil
}
