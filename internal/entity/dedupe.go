package entity

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/azdurable/azdurable/internal/netjson"
)

// Delivery de-duplication beyond the extension's sorter.
//
// The sorter drops a copy of an orchestration's request only when it
// carries the clock of the original, so two kinds of copies get through
// it: a request an orchestration sends again when an episode runs again
// (its worker died, or its history write failed, after the episode's
// messages went out), which carries a new id and a new clock; and a client
// request received again after the batch that ran it committed (the
// worker died before deleting the message, or lost its partition lease),
// which the sorter does not look at. A release received again after the
// same orchestration locked the entity anew would unlock the new lock.
//
// So an entity keeps, beside the extension's scheduler state, one member
// of its own (DedupeMember; the extension ignores members it does not
// know and drops it when it rewrites the state):
//
//   - the id of the lock request that holds the lock: only a release
//     naming it (or CleanEntityStorage's OrphanedLockReleaseID) unlocks;
//     a lock taken where this is unknown (by the extension) is released
//     by any release of its holder, as the extension does;
//   - the delivery keys of the requests it accepted (queued or ran) in the
//     last DedupeWindow, at most MaxDedupeKeys of them: a request with a
//     key seen before is a copy and dropped. The key of a client request
//     is its id; an orchestration's request carries one in an extra member
//     (KeyMember): its execution id and the number of entity requests the
//     execution sent before it, which an episode that runs again computes
//     the same way (replay), while its id and clock change. Requests
//     without a key (from the extension's orchestrations) are left to the
//     sorter alone.
//
// A dropped copy of a call or lock request (another id, the same key) is
// answered with a response naming the original's id (CopyOfMember): the
// orchestration then waits for the original's answer, which the entity
// sends (or sent) under the original's id.

// Members azdurable adds beside the extension's own.
const (
	// KeyMember carries a request's delivery key.
	KeyMember = "dedupeKey"
	// CopyOfMember, in a response, names the request whose answer the
	// caller must wait for instead: its request was a copy of that one.
	CopyOfMember = "copyOf"
	// DedupeMember, in the scheduler state, holds the lock's request id
	// and the recently seen delivery keys.
	DedupeMember = "dedupe"
)

// OrphanedLockReleaseID is the lock request id of the release that
// CleanEntityStorage sends for a lock whose holder no longer runs (the
// extension's value); it unlocks whatever lock the holder has.
const OrphanedLockReleaseID = "fix-orphaned-lock"

// DedupeWindow is how long an entity remembers the delivery keys it
// accepted: copies come back once the messages' visibility timeout
// expires (minutes), and the sorter forgets clocks after the same window.
const DedupeWindow = ReorderWindow

// MaxDedupeKeys bounds the keys an entity remembers (the oldest go first),
// so that the scheduler state of a busy entity stays small.
const MaxDedupeKeys = 200

// OrchestrationKey is the delivery key of the n-th entity request (from 0)
// that an orchestration's execution sends.
func OrchestrationKey(executionID string, n int) string {
	return executionID + ":" + strconv.Itoa(n)
}

// CopyOfIn returns the CopyOfMember of a response's text, or "" (also for
// a text that is no response).
func CopyOfIn(response string) string {
	if !strings.Contains(response, CopyOfMember) {
		return ""
	}
	r, err := DecodeResponse(response)
	if err != nil {
		return ""
	}
	return r.CopyOf
}

// Dedupe is what an entity remembers to drop copies (DedupeMember).
type Dedupe struct {
	// LockID is the id of the lock request that holds the entity's lock
	// ("" when unlocked, or when the lock was taken where it was not kept).
	LockID string
	seen   []seenKey
}

// seenKey is one accepted request: its key, the second it was accepted,
// and, for a call or a lock request, its id (answered under that id).
type seenKey struct {
	key string
	at  int64
	id  string
}

// deliveryKey is the key of r: its KeyMember, or the id of a client's
// request; "" when it has none.
func deliveryKey(r *Request) string {
	if r.Key != "" {
		return r.Key
	}
	if r.Parent == "" {
		return r.ID
	}
	return ""
}

// accept records r as accepted at now. It reports false for a copy, with
// the id of the original when the copy needs an answer naming it (a call
// or lock request under another id).
func (d *Dedupe) accept(r *Request, now time.Time) (ok bool, original string) {
	key := deliveryKey(r)
	if key == "" {
		return true, ""
	}
	for _, s := range d.seen {
		if s.key == key {
			if !r.Signal && r.Parent != "" && s.id != "" && !strings.EqualFold(s.id, r.ID) {
				return false, s.id
			}
			return false, ""
		}
	}
	s := seenKey{key: key, at: now.Unix()}
	if !r.Signal && r.Parent != "" {
		s.id = r.ID
	}
	d.seen = append(d.seen, s)
	return true, ""
}

// releases reports whether a release of the entity's lock holder unlocks
// it: it must name the lock's request (or be the clean's), unless the
// lock's request is not known.
func (d *Dedupe) releases(rel *Release) bool {
	return d.LockID == "" || strings.EqualFold(d.LockID, rel.ID) || rel.ID == OrphanedLockReleaseID
}

// expire forgets keys older than DedupeWindow before now, and the oldest
// beyond MaxDedupeKeys.
func (d *Dedupe) expire(now time.Time) {
	horizon := now.Add(-DedupeWindow).Unix()
	i := 0
	for i < len(d.seen) && d.seen[i].at < horizon {
		i++
	}
	if n := len(d.seen) - i; n > MaxDedupeKeys {
		i += n - MaxDedupeKeys
	}
	d.seen = d.seen[i:]
}

// Keys is how many delivery keys the entity remembers.
func (d *Dedupe) Keys() int { return len(d.seen) }

func (d *Dedupe) empty() bool { return d == nil || (d.LockID == "" && len(d.seen) == 0) }

// write writes d as {"lock":"<id>","seen":[["<key>",<unix second>(,"<id>")],…]}.
func (d *Dedupe) write(w *netjson.Writer) {
	w.BeginObject()
	if d.LockID != "" {
		w.Key("lock")
		w.String(d.LockID)
	}
	if len(d.seen) > 0 {
		w.Key("seen")
		w.BeginArray()
		for _, s := range d.seen {
			w.BeginArray()
			w.String(s.key)
			w.Int(s.at)
			if s.id != "" {
				w.String(s.id)
			}
			w.EndArray()
		}
		w.EndArray()
	}
	w.EndObject()
}

// readDedupe reads DedupeMember.
func readDedupe(raw json.RawMessage) (*Dedupe, error) {
	d := &Dedupe{}
	if netjson.IsNull(raw) {
		return d, nil
	}
	var v struct {
		Lock string            `json:"lock"`
		Seen []json.RawMessage `json:"seen"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("entity state %s: %w", DedupeMember, err)
	}
	d.LockID = v.Lock
	for _, item := range v.Seen {
		var parts []json.RawMessage
		if err := json.Unmarshal(item, &parts); err != nil || len(parts) < 2 || len(parts) > 3 {
			return nil, fmt.Errorf("entity state %s: a seen key is not [key, second(, id)]: %s", DedupeMember, item)
		}
		var s seenKey
		err := json.Unmarshal(parts[0], &s.key)
		if err == nil {
			err = json.Unmarshal(parts[1], &s.at)
		}
		if err == nil && len(parts) == 3 {
			err = json.Unmarshal(parts[2], &s.id)
		}
		if err != nil {
			return nil, fmt.Errorf("entity state %s: %w", DedupeMember, err)
		}
		d.seen = append(d.seen, s)
	}
	return d, nil
}
