package web

import (
	"sync"
	"sync/atomic"

	"github.com/vigil-ids/vigil/internal/event"
)

// Hub fans accepted events and reports out to the live page's server-sent
// event streams. It implements monitor.Observer: it never blocks the
// monitor; a client too slow to keep up loses messages, which are counted.
type Hub struct {
	mu      sync.Mutex
	clients map[*client]struct{}
	dropped atomic.Uint64
}

type client struct {
	ch chan []byte
}

// NewHub returns a hub with no clients.
func NewHub() *Hub { return &Hub{clients: map[*client]struct{}{}} }

// Dropped is how many messages slow clients lost.
func (h *Hub) Dropped() uint64 { return h.dropped.Load() }

// Clients is the number of connected streams.
func (h *Hub) Clients() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

func (h *Hub) subscribe() *client {
	c := &client{ch: make(chan []byte, 256)}
	h.mu.Lock()
	h.clients[c] = struct{}{}
	h.mu.Unlock()
	return c
}

func (h *Hub) unsubscribe(c *client) {
	h.mu.Lock()
	delete(h.clients, c)
	h.mu.Unlock()
}

// ObserveEvent sends an event to every client.
func (h *Hub) ObserveEvent(ev *event.Event) {
	if !h.any() {
		return
	}
	msg := append([]byte("event: event\ndata: "), ev.AppendJSON(nil)...)
	h.broadcast(append(msg, '\n', '\n'))
}

// ObserveReport sends a report to every client.
func (h *Hub) ObserveReport(r *event.Report) {
	if !h.any() {
		return
	}
	msg := append([]byte("event: report\ndata: "), r.AppendJSON(nil)...)
	h.broadcast(append(msg, '\n', '\n'))
}

func (h *Hub) any() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients) > 0
}

func (h *Hub) broadcast(msg []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		select {
		case c.ch <- msg:
		default:
			h.dropped.Add(1)
		}
	}
}
