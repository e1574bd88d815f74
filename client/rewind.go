package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/episode/rules"
	"github.com/azdurable/azdurable/provider"
)

// ErrRewindNotSupported means the client's backend cannot rewind.
var ErrRewindNotSupported = errors.New("client: the backend cannot rewind")

// maxRewindDepth bounds how deep a rewind follows sub-orchestrations.
const maxRewindDepth = 64

// Rewind runs a failed instance again from where it failed, as
// DurableTask.AzureStorage's RewindTaskOrchestrationAsync does (and so as
// `dtfx-ref rewind` and the Durable Functions rewind route do): the failure
// rows of its history are rewritten so that replay skips them (see
// provider.PlanRewind), failed sub-orchestrations of this execution are
// rewound with it, every rewound instance is marked Pending (C# leaves it
// Pending until it ends), and a GenericEvent carrying reason ("" sends
// none) wakes the deepest ones, whose completion then wakes their
// parents. A worker, Go or C#, does the rest.
//
// Only a Failed instance can be rewound: any other status gives a
// *StatusError matching ErrNotFailed, an unknown id ErrNotFound. A rewind
// that stopped half-way (a crash, a lost answer, a conflict) can be run
// again: an instance whose history shows the rewind but not its end is
// finished. Everything is read and decided before the first write.
//
// Beyond C#: the work that followed the first failure (an activity's
// retries and their timers, say) runs again too, so that the history
// replays; a failed sub-orchestration that cannot be rewound (terminated,
// purged, or its id taken by another instance) is created again; a child
// that completed while its parent was failed has its answer sent again;
// and each write is conditional on what was read. Rewinds of one instance
// through one Client run one at a time: a second (a double click, two
// requests at once) waits, then answers for the instance as the first
// left it, rather than failing on the rows the first rewrote. A
// sub-orchestration whose answer reached its parent before its own records
// show its end (provider.ChildEnding) is waited for, up to a minute,
// rather than taken for running: the rewind would otherwise remove that
// answer and leave the parent waiting for it forever.
func (c *Client) Rewind(ctx context.Context, instanceID, reason string) error {
	if err := provider.ValidateInstanceID(instanceID); err != nil {
		return err
	}
	rb, ok := c.be.(provider.RewindBackend)
	if !ok {
		return fmt.Errorf("%w (%T)", ErrRewindNotSupported, c.be)
	}
	unlock, err := c.rewinds.lock(ctx, instanceID)
	if err != nil {
		return err
	}
	defer unlock()
	r, root, err := c.planRewind(ctx, rb, instanceID)
	if err != nil {
		return err
	}
	if err := r.apply(ctx, root); err != nil {
		return err
	}
	var data *string
	if reason != "" {
		data = &reason
	}
	var msgs []*history.TaskMessage
	root.walk(func(n *rewindNode) {
		msgs = append(msgs, n.answers...)
		if len(n.children) == 0 {
			msgs = append(msgs, &history.TaskMessage{Event: &history.GenericEvent{Data: data,
				EventBase: history.EventBase{EventID: -1, Timestamp: c.now()}},
				OrchestrationInstance: history.OrchestrationInstance{InstanceID: n.h.InstanceID}})
		}
	})
	if err := c.be.SendMessages(ctx, msgs...); err != nil {
		return err
	}
	return c.answerEnded(ctx, root)
}

// answerEnded sends again the answer of each sub-orchestration the rewind
// took for running that has ended since it was read: its answer may have
// reached the parent while the parent was still Failed, and been dropped.
// One that ends after this read answers a parent already rewound.
func (c *Client) answerEnded(ctx context.Context, root *rewindNode) error {
	var running []runningChild
	root.walk(func(n *rewindNode) { running = append(running, n.running...) })
	var msgs []*history.TaskMessage
	for _, ch := range running {
		st, err := c.be.GetState(ctx, ch.h.InstanceID, true)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("client: rewind: reading sub-orchestration %q again: %w", ch.h.InstanceID, err)
		}
		if st.Status.IsTerminal() && strings.EqualFold(st.OrchestrationInstance.ExecutionID, ch.h.ExecutionID) {
			msgs = append(msgs, rules.ParentAnswer(ch.to, st.Status, st.Output, st.FailureDetails, c.now()))
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return c.be.SendMessages(ctx, msgs...)
}

// childEndingWait bounds how long a rewind waits for sub-orchestrations
// that are ending (provider.ChildEnding): a commit takes milliseconds,
// but a worker that stopped in the middle of one finishes it only when
// the episode runs again elsewhere.
const childEndingWait = time.Minute

// errChildEnding is plan's answer when a sub-orchestration is ending.
type errChildEnding struct{ parent, child string }

func (e *errChildEnding) Error() string {
	return fmt.Sprintf("client: cannot rewind instance %q yet: its sub-orchestration %q has sent its answer but its own records do not show its end yet; run the rewind again once its status shows it ended",
		e.parent, e.child)
}

// planRewind reads the instance and its sub-orchestrations and decides
// the rewind, writing nothing. When a sub-orchestration is ending, it
// waits for the child's status to show the end (at most childEndingWait
// in all) and reads everything again.
func (c *Client) planRewind(ctx context.Context, rb provider.RewindBackend, instanceID string) (*rewinder, *rewindNode, error) {
	deadline := time.Now().Add(childEndingWait)
	for {
		h, err := rb.ReadForRewind(ctx, instanceID)
		if err != nil {
			return nil, nil, err
		}
		mode := provider.RewindModeOf(h)
		if mode == provider.RewindRefused {
			if h.State.Status == Failed {
				return nil, nil, fmt.Errorf("client: cannot rewind instance %q: its status is Failed, but its history shows no failed execution", instanceID)
			}
			return nil, nil, &StatusError{Op: "rewind", InstanceID: instanceID, Status: h.State.Status, Err: ErrNotFailed}
		}
		r := &rewinder{c: c, rb: rb, visited: map[string]bool{}}
		root, err := r.plan(ctx, h, mode, 0)
		var ending *errChildEnding
		if !errors.As(err, &ending) {
			return r, root, err
		}
		wctx, cancel := context.WithDeadline(ctx, deadline)
		_, werr := c.WaitForCompletion(wctx, ending.child)
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil, nil, ctx.Err()
		case werr != nil:
			return nil, nil, fmt.Errorf("%w (waited %v: %v)", err, childEndingWait, werr)
		}
	}
}

// rewindNode is one instance of a rewind: what it rewrites, the children
// rewound with it and the answers sent to it again.
type rewindNode struct {
	h        *provider.RewindHistory
	mode     provider.RewindMode
	rewrite  []int
	mark     []int
	children []*rewindNode
	answers  []*history.TaskMessage
	// running are the sub-orchestrations taken for running: they answer.
	running []runningChild
}

type runningChild struct {
	h  *provider.RewindHistory
	to *history.ParentInstance
}

func (n *rewindNode) walk(f func(*rewindNode)) {
	f(n)
	for _, ch := range n.children {
		ch.walk(f)
	}
}

type rewinder struct {
	c       *Client
	rb      provider.RewindBackend
	visited map[string]bool
}

// plan decides the rewind of one instance and of the children it involves,
// reading but writing nothing.
func (r *rewinder) plan(ctx context.Context, h *provider.RewindHistory, mode provider.RewindMode, depth int) (*rewindNode, error) {
	if depth > maxRewindDepth {
		return nil, fmt.Errorf("client: rewind: sub-orchestrations nest deeper than %d levels at %q", maxRewindDepth, h.InstanceID)
	}
	if r.visited[h.InstanceID] {
		return nil, fmt.Errorf("client: rewind: instance %q is its own ancestor", h.InstanceID)
	}
	r.visited[h.InstanceID] = true
	p, err := provider.PlanRewind(h, mode, r.c.now())
	if err != nil {
		return nil, err
	}
	n := &rewindNode{h: h, mode: mode, rewrite: p.Rewrite}
	for _, s := range p.Recreated {
		child, err := r.child(ctx, h, s)
		if err != nil {
			return nil, err
		}
		if child != nil && !child.State.Status.IsTerminal() && child.State.Status != ContinuedAsNew {
			return nil, fmt.Errorf("client: cannot rewind instance %q yet: its sub-orchestration %q (task %d), created after the first failure, is %s; it would be created again while it runs: wait for it to end (or terminate it), then rewind",
				h.InstanceID, s.InstanceID, s.TaskID, child.State.Status)
		}
	}
	for _, s := range p.Subs {
		child, err := r.child(ctx, h, s)
		if err != nil {
			return nil, err
		}
		recreate := child == nil
		// Where the child's answer goes: the task of this execution.
		to := &history.ParentInstance{OrchestrationInstance: history.OrchestrationInstance{InstanceID: h.InstanceID, ExecutionID: h.ExecutionID},
			TaskScheduleID: s.TaskID}
		if child != nil {
			cm := provider.RewindModeOf(child)
			switch st := child.State.Status; {
			case cm != provider.RewindRefused:
				ch, err := r.plan(ctx, child, cm, depth+1)
				if err != nil {
					return nil, err
				}
				n.children = append(n.children, ch)
				if !s.Marked {
					n.mark = append(n.mark, s.Row)
				}
			case st == Completed:
				full, err := r.c.be.GetState(ctx, s.InstanceID, true)
				if err != nil {
					return nil, err
				}
				n.answers = append(n.answers, rules.ParentAnswer(to, Completed, full.Output, nil, r.c.now()))
			case !st.IsTerminal():
				if provider.ChildEnding(child, s.Failed) {
					return nil, &errChildEnding{parent: h.InstanceID, child: s.InstanceID}
				}
				// It runs and will answer (see answerEnded).
				n.running = append(n.running, runningChild{child, to})
			default:
				recreate = true
			}
		}
		if recreate && mode == provider.RewindFailed {
			n.rewrite = append(n.rewrite, s.Row)
		}
	}
	slices.Sort(n.rewrite)
	n.rewrite = slices.Compact(n.rewrite)
	return n, nil
}

// child reads a sub-orchestration, or returns nil when none exists under
// its id (purged). An id that now names an instance this parent execution
// did not create (started or restarted by someone else) stops the rewind:
// creating the child again would replace that instance.
func (r *rewinder) child(ctx context.Context, parent *provider.RewindHistory, s provider.RewindSub) (*provider.RewindHistory, error) {
	ch, err := r.rb.ReadForRewind(ctx, s.InstanceID)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !provider.ChildOf(ch, parent.InstanceID, parent.ExecutionID, s.TaskID) {
		return nil, fmt.Errorf("client: cannot rewind instance %q: the id %q of its sub-orchestration (task %d) now names another instance (%s %s); purge that one first",
			parent.InstanceID, s.InstanceID, s.TaskID, ch.State.Name, ch.State.Status)
	}
	return ch, nil
}

// apply writes a node's rewind after its children's, so that an
// interrupted rewind leaves the top instance Failed and can be run again.
func (r *rewinder) apply(ctx context.Context, n *rewindNode) error {
	for _, ch := range n.children {
		if err := r.apply(ctx, ch); err != nil {
			return err
		}
	}
	if len(n.rewrite)+len(n.mark) > 0 {
		if err := r.rb.RewriteForRewind(ctx, n.h, n.rewrite, n.mark); err != nil {
			return fmt.Errorf("client: rewind of %q: %w", n.h.InstanceID, err)
		}
	}
	if n.h.State.Status == Pending {
		return nil
	}
	if err := r.rb.SetRewindPending(ctx, n.h, r.c.now()); err != nil {
		return fmt.Errorf("client: rewind of %q: %w (run the rewind again)", n.h.InstanceID, err)
	}
	return nil
}

// keyedLocks holds one lock per key, taken and waited for with a context;
// a key's entry lives only while it is held. The zero value is ready.
type keyedLocks struct {
	mu   sync.Mutex
	held map[string]chan struct{} // closed when the key is released
}

// lock takes the key's lock, or fails when ctx ends first.
func (l *keyedLocks) lock(ctx context.Context, key string) (unlock func(), err error) {
	for {
		l.mu.Lock()
		busy, ok := l.held[key]
		if !ok {
			if l.held == nil {
				l.held = map[string]chan struct{}{}
			}
			done := make(chan struct{})
			l.held[key] = done
			l.mu.Unlock()
			return func() {
				l.mu.Lock()
				delete(l.held, key)
				l.mu.Unlock()
				close(done)
			}, nil
		}
		l.mu.Unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
