package azurestorage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/azdurable/azdurable/queues"
)

// Holds. Every work-item message this backend holds — one it received for
// a waiting activity caller, one it enqueued hidden for its own caller
// (sendLocal), one whose result waits in a session for the commit that
// records it (deliverLocally) — is hidden for the short ActivityHold only,
// and a keeper renews it while it is held. If the process dies, whatever
// it held becomes visible to every worker of the hub at most ActivityHold
// after the last renewal, instead of after the work-item visibility (five
// minutes by default, C#'s). Renewals cost one UpdateMessage per held
// message every third of ActivityHold, so only work held longer than that
// pays anything; the activities of a fan-out or a chain, which take
// milliseconds, pay nothing.
//
// The keeper and the message's owner take turns on the message through
// the hold's lock, so that an owner's delete or release never carries a
// pop receipt that a renewal has just replaced. Ending a hold (delete,
// release, give back) stops the renewals whether or not the storage call
// succeeds: a message whose delete failed reappears after ActivityHold and
// runs again (at least once), and is never kept hidden for good.

// hold is one work-item message this backend holds.
type hold struct {
	k  *keeper
	mu sync.Mutex
	// msg is the message with its current pop receipt.
	msg queues.Message
	// until is when the message becomes visible unless renewed, by this
	// process's clock (taken before each call, so it errs early).
	until time.Time
	// over: deleted, released or given back; no longer renewed.
	over bool
	// lost is set when a renewal found the message no longer ours (its
	// hold lapsed and another worker received it, or it was deleted).
	lost error
}

// keeper renews the holds of one queue.
type keeper struct {
	q    *queues.Queue
	hold time.Duration
	log  *slog.Logger

	mu      sync.Mutex
	set     map[*hold]struct{}
	running bool
}

func newKeeper(q *queues.Queue, d time.Duration, log *slog.Logger) *keeper {
	return &keeper{q: q, hold: d, log: log, set: map[*hold]struct{}{}}
}

// add starts holding m, which the caller has just received or sent hidden
// for the keeper's hold time (at sentAt, by this process's clock).
func (k *keeper) add(m *queues.Message, sentAt time.Time) *hold {
	h := &hold{k: k, msg: *m, until: sentAt.Add(k.hold)}
	k.mu.Lock()
	k.set[h] = struct{}{}
	if !k.running {
		k.running = true
		go k.loop()
	}
	k.mu.Unlock()
	return h
}

// held returns the number of messages held (for tests).
func (k *keeper) held() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.set)
}

func (k *keeper) forget(h *hold) {
	k.mu.Lock()
	delete(k.set, h)
	k.mu.Unlock()
}

// forgetAll stops renewing everything (the backend stops): what is still
// held becomes visible within the hold time.
func (k *keeper) forgetAll() {
	k.mu.Lock()
	for h := range k.set {
		delete(k.set, h)
	}
	k.mu.Unlock()
}

// tick is how often the keeper looks for holds to renew.
func (k *keeper) tick() time.Duration { return max(k.hold/10, 100*time.Millisecond) }

// loop renews every hold a third of whose time has passed since it was
// last hidden, and ends after a while with nothing held. Each renewal may
// take a third of the hold, so a slow or failed one (a busy or briefly
// unreachable storage) is tried again before the hold lapses.
func (k *keeper) loop() {
	idle := 0
	t := time.NewTicker(k.tick())
	defer t.Stop()
	for range t.C {
		k.mu.Lock()
		if len(k.set) == 0 {
			if idle++; idle > 50 {
				k.running = false
				k.mu.Unlock()
				return
			}
			k.mu.Unlock()
			continue
		}
		idle = 0
		all := make([]*hold, 0, len(k.set))
		for h := range k.set {
			all = append(all, h)
		}
		k.mu.Unlock()
		now := time.Now()
		var due []*hold
		for _, h := range all {
			h.mu.Lock()
			if !h.over && h.until.Sub(now) < k.hold-k.hold/3 {
				due = append(due, h)
			}
			h.mu.Unlock()
		}
		forEach(context.Background(), len(due), 16, func(ctx context.Context, i int) { due[i].renew(ctx) })
	}
}

// renew hides the message for another hold time. A failure other than the
// message being gone is retried at the next tick.
func (h *hold) renew(ctx context.Context) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.over {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, h.k.hold/3)
	defer cancel()
	at := time.Now()
	pop, next, err := h.k.q.UpdateVisibility(ctx, h.msg.ID, h.msg.PopReceipt, h.msg.Text, h.k.hold)
	switch {
	case errors.Is(err, queues.ErrMessageGone):
		h.over, h.lost = true, err
		h.k.forget(h)
		h.k.log.Warn("azurestorage: a held work item is no longer ours (its hold lapsed, or it was deleted); another worker may run it again",
			"message", h.msg.ID, "err", err)
	case err != nil:
		h.k.log.Debug("azurestorage: renewing a held work item; retrying", "message", h.msg.ID, "err", err)
	default:
		h.msg.PopReceipt, h.msg.NextVisible, h.until = pop, next, at.Add(h.k.hold)
	}
}

// err reports whether the message is still held (nil) or was lost.
func (h *hold) err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lost != nil {
		return fmt.Errorf("azurestorage: work item %s: %w", h.msg.ID, h.lost)
	}
	return nil
}

// end stops the renewals and runs op with the message's current pop
// receipt (op may be nil). A lost message is not passed to op: the error
// wraps queues.ErrMessageGone.
func (h *hold) end(op func(m *queues.Message) error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	wasOver := h.over
	h.over = true
	h.k.forget(h)
	if h.lost != nil {
		return fmt.Errorf("azurestorage: work item %s: %w", h.msg.ID, h.lost)
	}
	if wasOver || op == nil {
		return nil
	}
	return op(&h.msg)
}

// delete deletes the message and ends the hold.
func (h *hold) delete(ctx context.Context) error {
	return h.end(func(m *queues.Message) error { return h.k.q.Delete(ctx, m.ID, m.PopReceipt) })
}

// release makes the message visible after delay and ends the hold.
func (h *hold) release(ctx context.Context, delay time.Duration) error {
	return h.end(func(m *queues.Message) error {
		_, _, err := h.k.q.UpdateVisibility(ctx, m.ID, m.PopReceipt, m.Text, delay)
		return err
	})
}

// snapshot returns a copy of the message as held now.
func (h *hold) snapshot() queues.Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.msg
}

// id is the message's id.
func (h *hold) id() string { return h.msg.ID }
