package entity

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/azdurable/azdurable/history"
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
//     sorter alone. The ids of a lock request's copies are kept beside
//     the original's key (alias): the entities of a lock set may take
//     different copies for the original, and a release naming any of
//     them releases the lock.
//
// A dropped copy of a call or lock request (another id, the same key) is
// answered under its own id, since the run that committed may be the one
// that sent it: a call that ran with the answer it got (kept in the seen
// entry when short), a lock this entity holds by passing the copy on down
// the lock set (the last entity answers it as granted), and otherwise with
// a response naming the original's id (CopyOfMember), whose answer the
// orchestration then waits for. The kept answer matters: the original's
// answer may have been dropped, when it reached the orchestration before
// the orchestration's first history write ("no such instance").
//
// An entity sends its answers before it commits its batch (as every
// episode sends before it writes), so a worker that dies in between has
// answered requests whose messages come back to be run again, possibly
// after the caller moved on: after its release. So an azdurable
// orchestration's release carries the clock of the last request it sent
// to the entity (AfterMember), and the entity holds the release (in
// DedupeMember) until that request was received and ran, and until the
// lock it names was granted here (a forwarded lock request can come back
// after the release too): see applyHeld.

// Members azdurable adds beside the extension's own.
const (
	// KeyMember carries a request's delivery key.
	KeyMember = "dedupeKey"
	// CopyOfMember, in a response, names the request whose answer the
	// caller must wait for instead: its request was a copy of that one.
	CopyOfMember = "copyOf"
	// DedupeMember, in the scheduler state, holds the lock's request id,
	// the recently seen delivery keys and the held releases.
	DedupeMember = "dedupe"
	// AfterMember, in a release, is the holder's clock of the last
	// request it sent to the entity.
	AfterMember = "after"
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
	held   []heldRelease
}

// heldRelease is a release (with After) that waits until the entity has
// received what its holder sent before it, and the second it came.
type heldRelease struct {
	rel *Release
	at  int64
}

// seenKey is one accepted request: its key, the second it was accepted,
// and, for a call or a lock request, its id (answered under that id) and
// a call's answer.
type seenKey struct {
	key string
	at  int64
	id  string
	// answer is the response a call got (kept when short).
	answer string
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

// find returns the entry of r's key, if it was accepted before.
func (d *Dedupe) find(r *Request) *seenKey {
	key := deliveryKey(r)
	if key == "" {
		return nil
	}
	for i := range d.seen {
		if d.seen[i].key == key {
			return &d.seen[i]
		}
	}
	return nil
}

// accept records r as accepted at now, and reports false for a copy.
func (d *Dedupe) accept(r *Request, now time.Time) bool {
	key := deliveryKey(r)
	if key == "" {
		return true
	}
	if d.find(r) != nil {
		return false
	}
	s := seenKey{key: key, at: now.Unix()}
	if !r.Signal && r.Parent != "" {
		s.id = r.ID
	}
	d.seen = append(d.seen, s)
	return true
}

// MaxKeptAnswer bounds the answer of a call an entity keeps to answer
// its copies with (longer answers are not kept: the copy is then told to
// wait for the original's answer).
const MaxKeptAnswer = 512

// keepAnswer keeps the answer to the call r, for its copies.
func (d *Dedupe) keepAnswer(r *Request, answer string) {
	if len(answer) > MaxKeptAnswer {
		return
	}
	if s := d.find(r); s != nil && strings.EqualFold(s.id, r.ID) {
		s.answer = answer
	}
}

// answerCopy answers a copy r of the request of entry s (another run of
// the episode that sent s's request sent r, under another id), so that its
// caller, which waits under r's id, gets what the original's caller got:
//
//   - a call that ran here is answered with the kept answer, or, when none
//     was kept (too long) or it still waits in the queue, with a response
//     naming the original (CopyOfMember) whose answer the caller then
//     waits for;
//   - a lock request whose lock this entity holds is passed on down the
//     lock set as the original was, and the last entity answers it as
//     granted, naming the original (the lock's id, which the releases
//     must name); one still queued here is answered naming the original;
//     one already released is a stale copy and dropped;
//   - a signal needs no answer.
func (st *State) answerCopy(r *Request, s *seenKey, now time.Time) []*history.TaskMessage {
	d := st.Dedupe
	if r.Signal || r.Parent == "" || s.id == "" || strings.EqualFold(s.id, r.ID) {
		return nil
	}
	if !r.IsLock() {
		if s.answer != "" {
			return []*history.TaskMessage{eventTo(r.Parent, r.ParentExecution, r.ID, s.answer, now)}
		}
		return []*history.TaskMessage{copyAnswer(r, s.id, now)}
	}
	switch {
	case st.LockedBy == r.Parent && d.sameLock(d.LockID, s.id):
		if r.Position+1 >= len(r.LockSet) {
			result := LockAcquired
			resp := &Response{Typed: true, Result: &result, CopyOf: s.id}
			return []*history.TaskMessage{eventTo(r.Parent, r.ParentExecution, r.ID, resp.Encode(), now)}
		}
		next := *r
		next.Position++
		next.Typed = true
		target := next.LockSet[next.Position].InstanceID()
		st.Sorter.LabelOutgoing(&next, target, UTCStamp(now))
		return []*history.TaskMessage{eventTo(target, "", OpEvent, next.Encode(), now)}
	case d.lockQueued(st.Queue, s.id):
		return []*history.TaskMessage{copyAnswer(r, s.id, now)}
	}
	return nil
}

// releases reports whether a release of the entity's lock holder unlocks
// it: it must name the lock's request or one of its copies (or be the
// clean's), unless the lock's request is not known.
func (d *Dedupe) releases(rel *Release) bool {
	return d.LockID == "" || d.sameLock(d.LockID, rel.ID) || rel.ID == OrphanedLockReleaseID
}

// alias keeps the id of r, a copy of the lock request of entry s under
// another id, beside the original's key. The entities of a lock set may
// take different copies for the original (a forwarded copy can arrive
// before the forwarded original, when the batch that took the original did
// not commit), and the orchestration releases the one it was granted
// under: each entity must know both for its own lock.
func (d *Dedupe) alias(r *Request, s *seenKey, now time.Time) {
	if !r.IsLock() || s.id == "" || d.lockAccepted(r.ID) {
		return
	}
	d.seen = append(d.seen, seenKey{key: s.key, at: now.Unix(), id: r.ID})
}

// sameLock reports whether two lock request ids are one lock request:
// equal, or copies kept under one key (alias).
func (d *Dedupe) sameLock(x, y string) bool {
	if strings.EqualFold(x, y) {
		return true
	}
	kx, ky := d.keyOf(x), d.keyOf(y)
	return kx != "" && kx == ky
}

// keyOf returns the delivery key a request id was accepted under ("" when
// it was not).
func (d *Dedupe) keyOf(id string) string {
	for _, s := range d.seen {
		if strings.EqualFold(s.id, id) {
			return s.key
		}
	}
	return ""
}

// hold keeps a release that carries After until it may apply (once per
// lock request id and holder).
func (d *Dedupe) hold(rel *Release, now time.Time) {
	for _, h := range d.held {
		if h.rel.Parent == rel.Parent && strings.EqualFold(h.rel.ID, rel.ID) {
			return
		}
	}
	d.held = append(d.held, heldRelease{rel: rel, at: now.Unix()})
}

// applyHeld applies the held releases that may apply now, and reports
// whether one unlocked the entity. A held release unlocks when its lock
// holds the entity, every request its holder sent before it (up to After)
// was received, and none of them waits in the queue behind others or is a
// lock request still to grant: a release never overtakes the requests of
// its own critical section, even when those come back late (the worker
// that received them died before committing). A held release whose lock
// is neither held nor waiting here is a copy and dropped, unless the lock
// request was never received (it is on its way: a forwarder died between
// forwarding it and committing); one held longer than DedupeWindow is
// dropped.
func (st *State) applyHeld(now time.Time) bool {
	d := st.Dedupe
	unlocked := false
	horizon := now.Add(-DedupeWindow).Unix()
	kept := d.held[:0]
	for _, h := range d.held {
		rel := h.rel
		switch {
		case h.at < horizon:
			continue
		case st.LockedBy == rel.Parent && (d.LockID == "" || d.sameLock(d.LockID, rel.ID)):
			if st.Sorter.Delivered(rel.Parent, *rel.After) && holderFirst(st.Queue, rel.Parent) {
				st.LockedBy, d.LockID = "", ""
				unlocked = true
				continue
			}
		case d.lockAccepted(rel.ID) && !d.lockQueued(st.Queue, rel.ID):
			continue // its lock was granted and released: a copy
		}
		kept = append(kept, h)
	}
	d.held = kept
	return unlocked
}

// lockAccepted reports whether the lock request id was accepted here.
func (d *Dedupe) lockAccepted(id string) bool {
	for _, s := range d.seen {
		if strings.EqualFold(s.id, id) {
			return true
		}
	}
	return false
}

// lockQueued reports whether the lock request id (or a copy of it) waits
// in the queue.
func (d *Dedupe) lockQueued(queue []*Request, id string) bool {
	for _, r := range queue {
		if r.IsLock() && d.sameLock(r.ID, id) {
			return true
		}
	}
	return false
}

// holderFirst reports whether parent's requests in the queue all come
// first and none is a lock request: unlocking then lets them run before
// anybody else's, as the holder's.
func holderFirst(queue []*Request, parent string) bool {
	prefix := true
	for _, r := range queue {
		if r.Parent != parent {
			prefix = false
			continue
		}
		if !prefix || r.IsLock() {
			return false
		}
	}
	return true
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

func (d *Dedupe) empty() bool {
	return d == nil || (d.LockID == "" && len(d.seen) == 0 && len(d.held) == 0)
}

// write writes d as {"lock":"<id>","seen":[["<key>",<unix second>(,"<id>"(,"<answer>"))],…],"held":[[<release>,<unix second>],…]}.
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
				if s.answer != "" {
					w.String(s.answer)
				}
			}
			w.EndArray()
		}
		w.EndArray()
	}
	if len(d.held) > 0 {
		w.Key("held")
		w.BeginArray()
		for _, h := range d.held {
			w.BeginArray()
			w.Raw([]byte(h.rel.Encode()))
			w.Int(h.at)
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
		Held []json.RawMessage `json:"held"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("entity state %s: %w", DedupeMember, err)
	}
	d.LockID = v.Lock
	for _, item := range v.Seen {
		var parts []json.RawMessage
		if err := json.Unmarshal(item, &parts); err != nil || len(parts) < 2 || len(parts) > 4 {
			return nil, fmt.Errorf("entity state %s: a seen key is not [key, second(, id(, answer))]: %s", DedupeMember, item)
		}
		var s seenKey
		err := json.Unmarshal(parts[0], &s.key)
		if err == nil {
			err = json.Unmarshal(parts[1], &s.at)
		}
		if err == nil && len(parts) >= 3 {
			err = json.Unmarshal(parts[2], &s.id)
		}
		if err == nil && len(parts) == 4 {
			err = json.Unmarshal(parts[3], &s.answer)
		}
		if err != nil {
			return nil, fmt.Errorf("entity state %s: %w", DedupeMember, err)
		}
		d.seen = append(d.seen, s)
	}
	for _, item := range v.Held {
		var parts []json.RawMessage
		if err := json.Unmarshal(item, &parts); err != nil || len(parts) != 2 {
			return nil, fmt.Errorf("entity state %s: a held release is not [release, second]: %s", DedupeMember, item)
		}
		rel, err := DecodeRelease(string(parts[0]))
		if err != nil {
			return nil, err
		}
		if rel.After == nil {
			rel.After = &minStamp
		}
		h := heldRelease{rel: rel}
		if err := json.Unmarshal(parts[1], &h.at); err != nil {
			return nil, fmt.Errorf("entity state %s: %w", DedupeMember, err)
		}
		d.held = append(d.held, h)
	}
	return d, nil
}
