package azurestorage

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/azdurable/azdurable/queues"
)

// Finishing a completed activity. Once an activity's result is on its
// control queue, the work item's delete is all that is left; the slot
// need not wait for it. The delete runs in the background, at most
// maxFinishing at once per backend (beyond that the slot deletes its own
// work item before it takes the next, as C# does), and Stop waits for the
// deletes under way. The hold stays with the work item until its delete
// ends, so a delete that fails, or a process that dies first, leaves the
// work item to reappear within the hold time and run again, as with a
// delete that fails in the slot; the orchestration drops the duplicate
// result. What the slot saves is one round trip per activity: on a busy
// storage, where a delete takes tens of milliseconds, a sizeable part of a
// short activity's slot time.
type finisher struct {
	sem chan struct{}
	wg  sync.WaitGroup
}

// maxFinishing bounds the background deletes of one backend.
const maxFinishing = 32

func newFinisher() *finisher { return &finisher{sem: make(chan struct{}, maxFinishing)} }

// deleteWorkItem deletes a completed activity's work item: in the
// background while fewer than maxFinishing deletes are under way, in the
// caller otherwise.
func (b *Backend) deleteWorkItem(ctx context.Context, l *activityLock, id string) {
	del := func(ctx context.Context) {
		if err := l.h.delete(ctx); err != nil && !errors.Is(err, queues.ErrMessageGone) {
			// The result is sent: the work item reappears within the hold
			// time and runs again, and the orchestration drops the
			// duplicate.
			b.log.Warn("azurestorage: deleting a completed work item; it will run again", "message", id, "err", err)
		}
	}
	f := b.fin
	select {
	case f.sem <- struct{}{}:
	default:
		del(ctx)
		return
	}
	f.wg.Add(1)
	go func() {
		defer func() { <-f.sem; f.wg.Done() }()
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		del(dctx)
	}()
}

// wait waits for the background deletes under way.
func (f *finisher) wait() { f.wg.Wait() }
