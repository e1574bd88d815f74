package azurestorage

import (
	"context"
	"time"

	"github.com/azdurable/azdurable/internal/ctxsleep"
	"github.com/azdurable/azdurable/partition"
)

// startManager starts a partition manager, trying again with back-off
// (1 s doubling to 30 s) while storage fails, until ctx ends. Starting
// creates the Partitions table and rows (or the lease blobs), which fails
// while storage is unavailable; giving up then left a worker running that
// never took a partition. It returns an error only when ctx ended or the
// options are invalid (logged).
func (b *Backend) startManager(ctx context.Context) (partition.Manager, error) {
	for wait := time.Second; ; wait = min(2*wait, 30*time.Second) {
		mgr, err := b.newManager()
		if err != nil {
			b.log.Error("azurestorage: partition manager", "err", err)
			return nil, err
		}
		err = mgr.Start(ctx, listener{b})
		if err == nil {
			return mgr, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		b.log.Error("azurestorage: starting the partition manager failed; retrying", "err", err, "retryIn", wait)
		if !ctxsleep.Sleep(ctx, wait) {
			return nil, ctx.Err()
		}
	}
}
