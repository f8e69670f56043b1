package spool

import (
	"context"
	"log/slog"
	"time"
)

// Forward delivers the spool's records in order with send until ctx ends.
// send gets a batch of at most batch records (valid until it returns: the
// next read reuses their memory) and returns nil only once all of them are
// delivered; the batch is then committed. On an error the same
// records are offered again after a pause that grows to five seconds, so
// send must tolerate seeing a record twice (the bus de-duplicates by event
// id).
func Forward(ctx context.Context, s *Spool, batch int, send func(context.Context, [][]byte) error, log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	backoff := 100 * time.Millisecond
	failing := false
	for {
		recs, next, err := s.Read(batch)
		if err != nil {
			log.Error("spool: reading", "err", err)
		}
		if len(recs) > 0 {
			if err := send(ctx, recs); err != nil {
				if ctx.Err() != nil {
					return
				}
				if !failing {
					log.Warn("cannot deliver observations; keeping them in the spool and retrying", "err", err)
				}
				failing = true
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, 5*time.Second)
				continue
			}
			if failing {
				log.Info("delivering observations again", "spooled_bytes", s.Bytes())
			}
			failing, backoff = false, 100*time.Millisecond
			if err := s.Commit(next); err != nil {
				log.Error("spool: commit", "err", err)
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-s.Ready():
		case <-time.After(time.Second):
		}
	}
}
