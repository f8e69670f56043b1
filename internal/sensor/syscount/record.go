package syscount

import (
	"bufio"
	"context"
	"errors"
	"io"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/syscalls"
)

// Record runs c until ctx ends, writing every interval's count vectors to
// w as JSON lines as they come (the form vigil agent --syscalls --stdout
// prints). It returns the vectors and how many system calls were lost to
// a full map or missed.
func Record(ctx context.Context, c *Counter, w io.Writer) ([]event.CountVector, uint64, error) {
	bw := bufio.NewWriter(w)
	var all []event.CountVector
	var lost uint64
	err := c.Run(ctx, func(vs []event.CountVector, st IntervalStats) error {
		lost += st.Lost + st.Missed
		all = append(all, vs...)
		if err := syscalls.WriteVectors(bw, vs); err != nil {
			return err
		}
		return bw.Flush()
	})
	return all, lost, errors.Join(err, bw.Flush())
}
