package azurestorage

import (
	"context"
	"sync"
	"time"

	"github.com/azdurable/azdurable/queues"
)

// Local starts. A client sends a start hidden and shows it once its
// Instances row is written (CreateInstance). When a backend of the same
// process owns the partition of the start's control queue, the show and
// that backend's receive are both skipped: the owner takes the message as
// if it had just received it, with the pop receipt of the send, exactly as
// an activity scheduled here is handed over (sendLocal). Nothing else
// changes: the message is on its queue, hidden, held by the owner like a
// received one (renewed by its work item, deleted by its commit, given
// back by a stopped partition), and de-duplicated against the row as
// usual. If this process dies first, the message becomes visible when the
// send's hiding ends (startHideFor, 30 s, against the control-queue
// visibility of a received message) and the partition's next owner runs
// it. Where no backend of the process owns the partition, or the owner
// cannot take more messages now, the start is shown as before.

// localOwners maps the control queues of this process's owned partitions
// (account queue endpoint and queue name) to the backend that owns each.
var localOwners = &ownerRegistry{m: map[string]*Backend{}}

type ownerRegistry struct {
	mu sync.Mutex
	m  map[string]*Backend
}

func (r *ownerRegistry) set(key string, b *Backend) {
	r.mu.Lock()
	r.m[key] = b
	r.mu.Unlock()
}

// drop forgets key if b still owns it.
func (r *ownerRegistry) drop(key string, b *Backend) {
	r.mu.Lock()
	if r.m[key] == b {
		delete(r.m, key)
	}
	r.mu.Unlock()
}

func (r *ownerRegistry) get(key string) *Backend {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[key]
}

// queueKey names one of the backend's queues process-wide: queues of the
// same name in different accounts are different queues.
func (b *Backend) queueKey(name string) string {
	return b.opts.Account.Endpoints().Queue + "\x00" + name
}

// handOver gives a start message that its sender holds hidden to the
// backend of this process that owns its control queue, and reports whether
// that backend took it.
func (b *Backend) handOver(s *sentStart) bool {
	owner := localOwners.get(b.queueKey(s.q.Name()))
	if owner == nil {
		return false
	}
	return owner.takeSent(s.q.Name(), &queues.Message{ID: s.sent.ID, PopReceipt: s.sent.PopReceipt, Text: s.text,
		DequeueCount: 1, InsertionTime: s.sent.InsertionTime, NextVisible: s.sent.NextVisible})
}

// takeSent files a message just sent hidden to the control queue name,
// whose partition this backend owns, as if its dequeue loop had received
// it. It reports false, taking nothing, when the partition is not (or no
// longer) owned here, the backend is stopping, or as many control messages
// wait in memory as receiving would allow.
func (b *Backend) takeSent(name string, m *queues.Message) bool {
	b.mu.Lock()
	p := b.parts[name]
	ok := p != nil && !b.stopping && b.buffered < b.opts.ControlQueueBufferThreshold
	b.mu.Unlock()
	if !ok {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pm := b.receive(ctx, p, m)
	if pm == nil {
		// Put back or quarantined by receive, as a received message would
		// have been: nothing is left for the sender to do.
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	// A partition stopped meanwhile has given back its messages already:
	// the sender shows this one instead.
	if b.parts[name] != p || b.stopping {
		return false
	}
	p.held[m.ID] = pm
	b.fileLocked(pm.data.TaskMessage.OrchestrationInstance.InstanceID, pm)
	return true
}
