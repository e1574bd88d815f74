package queues

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Polling defaults, as in DurableTask.AzureStorage.
const (
	// MinPollInterval is the shortest wait between empty polls, and the
	// floor of any configured maximum.
	MinPollInterval = 50 * time.Millisecond
	// DefaultMaxPollInterval is C#'s MaxQueuePollingInterval default.
	DefaultMaxPollInterval = 30 * time.Second
	// DefaultVisibility is C#'s control and work-item visibility timeout.
	DefaultVisibility = 5 * time.Minute
)

// Backoff computes the waits between empty polls of one queue: 0, then
// MinPollInterval, then MinPollInterval + r·50ms·2^(k-3) for the k-th empty
// poll in a row (k ≥ 3), with r drawn uniformly from [0.8, 1.2] at every
// step, never more than the maximum. It is not safe for concurrent use; each
// poller owns one.
type Backoff struct {
	max    time.Duration
	rand   func() float64
	empty  int  // empty polls in a row
	capped bool // the maximum was reached; every later wait is the maximum
}

// NewBackoff returns a Backoff that waits at most max (raised to
// MinPollInterval if lower). rand returns uniform values in [0, 1), like
// math/rand/v2.Float64, which is used when rand is nil.
func NewBackoff(max time.Duration, rand func() float64) *Backoff {
	if rand == nil {
		rand = randFloat
	}
	return &Backoff{max: effectiveMax(max), rand: rand}
}

func randFloat() float64 { return rand.Float64() }

func effectiveMax(m time.Duration) time.Duration {
	if m == 0 {
		return DefaultMaxPollInterval
	}
	return max(m, MinPollInterval)
}

// Max returns the longest wait.
func (b *Backoff) Max() time.Duration { return b.max }

// Next records an empty poll and returns how long to wait before the next.
func (b *Backoff) Next() time.Duration {
	b.empty++
	switch {
	case b.empty == 1:
		return 0
	case b.empty == 2:
		return MinPollInterval
	case b.capped || b.empty > 40: // 50ms·2^37 is far beyond any maximum
		b.capped = true
		return b.max
	}
	term := float64(MinPollInterval << (b.empty - 3))
	d := MinPollInterval + time.Duration((0.8+0.4*b.rand())*term)
	if d >= b.max {
		// The term doubles while r varies by at most 1.5×, so once the
		// maximum is reached every later value would exceed it too.
		b.capped = true
		return b.max
	}
	return d
}

// Reset starts the sequence again; call it when a poll returned messages.
func (b *Backoff) Reset() { b.empty, b.capped = 0, false }

// delayedWakeHorizon bounds the delayed messages for which Send schedules a
// wake-up: beyond it the timers would pile up in memory for little gain,
// since a poller finds the message within one maximum interval anyway.
const delayedWakeHorizon = 10 * time.Minute

// Wakeups connects the senders and the pollers of one process: a Send
// through a Queue that has the Wakeups wakes every Poller of that queue
// name that uses the same Wakeups, so work enqueued here is picked up at
// once instead of after the poller's back-off (C# does the same within one
// process). Create one per process or per task hub and pass it to both
// QueueOptions and PollerOptions. Keys are queue names only, so queues of
// different accounts that share a name merely cause a spurious, harmless
// extra poll. A nil *Wakeups is valid and wakes nobody. Safe for concurrent
// use.
type Wakeups struct {
	mu    sync.Mutex
	chans map[string]chan struct{}
}

// NewWakeups returns an empty registry.
func NewWakeups() *Wakeups { return &Wakeups{chans: map[string]chan struct{}{}} }

// C returns a channel that is closed by the next Notify of queue. Take it
// before polling the queue, so that a message sent while the poll is in
// flight still ends the wait that follows an empty poll.
func (w *Wakeups) C(queue string) <-chan struct{} {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	ch, ok := w.chans[queue]
	if !ok {
		ch = make(chan struct{})
		w.chans[queue] = ch
	}
	return ch
}

// Notify wakes every poller waiting on queue. It costs nothing when no
// poller of the queue is waiting.
func (w *Wakeups) Notify(queue string) {
	if w == nil {
		return
	}
	w.mu.Lock()
	ch, ok := w.chans[queue]
	delete(w.chans, queue)
	w.mu.Unlock()
	if ok {
		close(ch)
	}
}

// sent is called by Send: a visible message wakes the pollers now, a
// delayed one when it becomes visible (if that is soon enough to be worth a
// timer).
func (w *Wakeups) sent(queue string, delay time.Duration) {
	switch {
	case w == nil:
	case delay <= 0:
		w.Notify(queue)
	case delay <= delayedWakeHorizon:
		time.AfterFunc(delay, func() { w.Notify(queue) })
	}
}

// PollerOptions configure a Poller. Zero fields mean the defaults.
type PollerOptions struct {
	// BatchSize is how many messages one receive asks for, 1 to MaxBatch;
	// 0 means MaxBatch (C# control queues; its work-item queue uses 1).
	BatchSize int
	// Visibility is how long received messages stay hidden; 0 means
	// DefaultVisibility. At least a second.
	Visibility time.Duration
	// MaxInterval caps the back-off; 0 means DefaultMaxPollInterval, and a
	// value below MinPollInterval is raised to it.
	MaxInterval time.Duration
	// Wakeups, shared with the Queues that send, ends a back-off early when
	// this process enqueues to the polled queue.
	Wakeups *Wakeups
	// WaitCap, when set, is asked before each wait after an empty poll and
	// bounds that wait by what it returns (0 or less: no bound). A process
	// that expects work from other processes, which wake nobody here, uses
	// it to keep its waits short while that work may arrive, without
	// changing the back-off of an idle hub.
	WaitCap func() time.Duration
	// Rand is the back-off's random source (uniform in [0, 1)); nil means
	// math/rand/v2.
	Rand func() float64
	// Logger receives receive failures; nil means slog.Default().
	Logger *slog.Logger
}

// Poller receives from one queue, backing off while the queue is empty.
// Next is not safe for concurrent use; run one Poller per receiving loop.
type Poller struct {
	name       string
	recv       func(ctx context.Context, n int, visibility time.Duration) ([]*Message, error)
	batch      int
	visibility time.Duration
	backoff    *Backoff
	waitCap    func() time.Duration
	wakeups    *Wakeups
	log        *slog.Logger
	// wait sleeps for d unless wake is closed first (woken) or ctx ends.
	// A field so that tests can observe and shorten the waits.
	wait func(ctx context.Context, d time.Duration, wake <-chan struct{}) (woken bool, err error)
	// holding is set after a partial batch: the next Next waits first,
	// on held, the wake-up channel taken before that batch's receive.
	holding bool
	held    <-chan struct{}
}

// NewPoller returns a Poller for q. It fails for options the service would
// refuse, so that the polling loop cannot fail the same way forever.
func NewPoller(q *Queue, o *PollerOptions) (*Poller, error) {
	return newPoller(q.Name(), q.Receive, o)
}

func newPoller(name string, recv func(context.Context, int, time.Duration) ([]*Message, error), o *PollerOptions) (*Poller, error) {
	var opts PollerOptions
	if o != nil {
		opts = *o
	}
	if opts.BatchSize == 0 {
		opts.BatchSize = MaxBatch
	}
	if opts.BatchSize < 1 || opts.BatchSize > MaxBatch {
		return nil, fmt.Errorf("queues: poller for %s: batch size %d is outside 1..%d", name, opts.BatchSize, MaxBatch)
	}
	if opts.Visibility == 0 {
		opts.Visibility = DefaultVisibility
	}
	if opts.Visibility < time.Second {
		return nil, fmt.Errorf("queues: poller for %s: visibility %v is shorter than the 1 s the service accepts", name, opts.Visibility)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Poller{
		name:       name,
		recv:       recv,
		batch:      opts.BatchSize,
		visibility: opts.Visibility,
		backoff:    NewBackoff(opts.MaxInterval, opts.Rand),
		waitCap:    opts.WaitCap,
		wakeups:    opts.Wakeups,
		log:        opts.Logger.With("queue", name),
		wait:       sleep,
	}, nil
}

// Next returns the next non-empty batch of messages, waiting with back-off
// while the queue is empty, until ctx is done (then it returns ctx.Err()).
// A receive in flight when ctx ends is finished, and its messages returned.
// A failed receive is logged and counts as an empty poll, so a storage
// outage is retried at the back-off's pace rather than in a tight loop.
//
// A batch smaller than BatchSize means the receive drained the queue, so
// the receive right after it would most likely come back empty: it counts
// as the first empty poll of the back-off (whose wait is 0), and the next
// Next waits the second's MinPollInterval before receiving. A send to the
// queue from this process does not end that short wait: what is sent
// during it is received together, by one receive instead of one each (a
// burst of starts from a client), for at most MinPollInterval of delay.
// It does reset the back-off, as a send during any other wait does.
func (p *Poller) Next(ctx context.Context) ([]*Message, error) {
	if p.holding {
		p.holding = false
		if _, err := p.wait(ctx, p.capped(p.backoff.Next()), nil); err != nil {
			return nil, err
		}
		select {
		case <-p.held:
			p.backoff.Reset()
		default:
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		wake := p.wakeups.C(p.name)
		msgs, err := p.receive(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			p.log.Warn("queue receive failed; retrying after back-off", "err", err)
		} else if len(msgs) > 0 {
			p.backoff.Reset()
			if len(msgs) < p.batch {
				p.backoff.Next()
				p.holding, p.held = true, wake
			}
			return msgs, nil
		}
		woken, err := p.wait(ctx, p.capped(p.backoff.Next()), wake)
		if err != nil {
			return nil, err
		}
		if woken {
			// Work was just enqueued here; more tends to follow.
			p.backoff.Reset()
		}
	}
}

// capped bounds a back-off wait by WaitCap.
func (p *Poller) capped(d time.Duration) time.Duration {
	if p.waitCap == nil {
		return d
	}
	if c := p.waitCap(); c > 0 {
		return min(d, c)
	}
	return d
}

// receiveGrace bounds a receive that Next lets finish after its context
// ended.
const receiveGrace = 30 * time.Second

// receive runs one receive that the end of ctx does not cut off: the
// service hides the messages as soon as it handles the request, so a
// receive abandoned in flight would leave them hidden for the whole
// visibility (five minutes for a control queue) with nobody holding them.
// It is bounded by receiveGrace instead, and what it got is returned for
// the caller to give back.
func (p *Poller) receive(ctx context.Context) ([]*Message, error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), receiveGrace)
	defer cancel()
	return p.recv(rctx, p.batch, p.visibility)
}

func sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) (bool, error) {
	if d <= 0 {
		return false, ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return false, nil
	case <-wake:
		return true, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}
