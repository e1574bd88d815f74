package entity

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/azdurable/azdurable/internal/netjson"
)

// ReorderWindow is how long the sorter holds back a request whose
// predecessor has not arrived (the extension's default
// EntityMessageReorderWindowInMinutes, 30).
const ReorderWindow = 30 * time.Minute

// minCollectionInterval is how far past the window the horizons must fall
// behind before they move (and expired clocks are dropped).
const minCollectionInterval = 10 * time.Second

// Sorter is the extension's MessageSorter: the sender's clock per
// destination, and the receiver's buffer per sender, so that requests from
// one sender are delivered once and in the order they were sent.
type Sorter struct {
	sent     orderedMap[Stamp]
	received orderedMap[*receiveBuffer]
	// ReceiveHorizon and SendHorizon trail the newest clock by the window.
	ReceiveHorizon, SendHorizon Stamp
}

type receiveBuffer struct {
	Last        Stamp
	ExecutionID string
	// buffered holds requests waiting for their predecessor, by Timestamp;
	// hasBuffered records that the dictionary exists (C# keeps it, empty,
	// once created, and writes it as {}).
	buffered    []*Request
	hasBuffered bool
}

// orderedMap is a .NET Dictionary with StringComparer.OrdinalIgnoreCase as
// the sorter uses it: keys in insertion order (what Newtonsoft writes),
// looked up without regard to case. A nil map is C#'s null.
type orderedMap[V any] struct {
	present bool
	keys    []string
	vals    map[string]V
}

func (m *orderedMap[V]) get(k string) (V, bool) {
	v, ok := m.vals[strings.ToLower(k)]
	return v, ok
}

func (m *orderedMap[V]) set(k string, v V) {
	if !m.present {
		m.present, m.vals = true, map[string]V{}
	}
	lk := strings.ToLower(k)
	if _, ok := m.vals[lk]; !ok {
		m.keys = append(m.keys, k)
	}
	m.vals[lk] = v
}

func (m *orderedMap[V]) remove(k string) {
	lk := strings.ToLower(k)
	delete(m.vals, lk)
	for i, key := range m.keys {
		if strings.ToLower(key) == lk {
			m.keys = append(m.keys[:i:i], m.keys[i+1:]...)
			break
		}
	}
}

func (m *orderedMap[V]) len() int { return len(m.keys) }

// LabelOutgoing stamps a request sent to destination at now (UTC): its
// Timestamp is now, or one tick past the previous one to the same
// destination, and its Predecessor that previous one.
func (s *Sorter) LabelOutgoing(r *Request, destination string, now Stamp) {
	timestamp := now
	if s.SendHorizon.Add(ReorderWindow + minCollectionInterval).Before(now) {
		s.SendHorizon = now.Add(-ReorderWindow)
		for _, k := range append([]string(nil), s.sent.keys...) {
			if v, _ := s.sent.get(k); v.Before(s.SendHorizon) {
				s.sent.remove(k)
			}
		}
	}
	if !s.sent.present {
		s.sent.present, s.sent.vals = true, map[string]Stamp{}
	} else if last, ok := s.sent.get(destination); ok {
		r.Predecessor = last
		if !timestamp.After(last) {
			timestamp = last.nextTick()
		}
	}
	r.Timestamp = timestamp
	s.sent.set(destination, timestamp)
}

// LastSent returns the clock of the last request labelled for destination
// (false when none is remembered).
func (s *Sorter) LastSent(destination string) (Stamp, bool) {
	return s.sent.get(destination)
}

// Delivered reports whether the request that parent stamped at clock
// has been delivered (or is too old to be held back by the sorter): the
// last request delivered from parent is not earlier.
func (s *Sorter) Delivered(parent string, clock Stamp) bool {
	if clock.IsZero() || clock.Before(s.ReceiveHorizon) {
		return true
	}
	b, ok := s.received.get(parent)
	return ok && !b.Last.Before(clock)
}

// ReceiveInOrder takes one received request and returns the requests to
// deliver now, in order: none for a duplicate or for one that waits for its
// predecessor, possibly several when it releases buffered ones. Requests
// from clients are not sorted; forwarded lock requests are only
// de-duplicated (receiveForwarded).
func (s *Sorter) ReceiveInOrder(r *Request) []*Request {
	if r.Parent == "" {
		return []*Request{r}
	}
	if r.Position > 0 {
		return s.receiveForwarded(r)
	}
	var out []*Request
	if s.ReceiveHorizon.Add(ReorderWindow + minCollectionInterval).Before(r.Timestamp) {
		s.ReceiveHorizon = r.Timestamp.Add(-ReorderWindow)
		if s.received.present {
			for _, k := range append([]string(nil), s.received.keys...) {
				b, _ := s.received.get(k)
				if b.Last.Before(s.ReceiveHorizon) {
					b.Last = minStamp
				}
				out = s.deliverReady(b, out)
				if b.Last.IsZero() && len(b.buffered) == 0 {
					s.received.remove(k)
				}
			}
			if s.received.len() == 0 {
				s.received = orderedMap[*receiveBuffer]{}
			}
		}
	}
	if r.Timestamp.Before(s.ReceiveHorizon) {
		return append(out, r)
	}
	b, ok := s.received.get(r.Parent)
	if !ok {
		b = &receiveBuffer{Last: minStamp, ExecutionID: r.ParentExecution}
		s.received.set(r.Parent, b)
	} else if b.ExecutionID != r.ParentExecution {
		// A new execution of the sender: release what was held, start over.
		out = append(out, b.buffered...)
		b.buffered = b.buffered[:0]
		b.Last = minStamp
		b.ExecutionID = r.ParentExecution
	}
	if !r.Timestamp.After(b.Last) {
		return out // a duplicate
	}
	if r.Predecessor.After(b.Last) && !r.Predecessor.Before(s.ReceiveHorizon) {
		b.hasBuffered = true
		i := sort.Search(len(b.buffered), func(i int) bool { return !b.buffered[i].Timestamp.Before(r.Timestamp) })
		if i < len(b.buffered) && b.buffered[i].Timestamp.Equal(r.Timestamp) {
			b.buffered[i] = r
		} else {
			b.buffered = append(b.buffered, nil)
			copy(b.buffered[i+1:], b.buffered[i:])
			b.buffered[i] = r
		}
		return out
	}
	out = append(out, r)
	b.Last = s.horizonOrMin(r.Timestamp)
	out = s.deliverReady(b, out)
	return out
}

// receiveForwarded takes a lock request forwarded by the previous entity
// of its lock set. The extension passes these unsorted: their clock is the
// forwarder's, not that of the orchestration they name as parent. So a copy
// of one that comes back after the entity's batch committed (a worker that
// died before deleting the message) is granted again, and the entity stays
// locked for an orchestration that released it long ago. Here they are
// de-duplicated by the forwarder's clock, kept under the forwarder's
// instance id (the key its own signals to this entity use, on the same
// clock): a request not later than the last one delivered from the
// forwarder is a copy and dropped. They never wait for a predecessor, so a
// lock request is never held back.
func (s *Sorter) receiveForwarded(r *Request) []*Request {
	if r.Position > len(r.LockSet) || r.Timestamp.IsZero() || r.Timestamp.Before(s.ReceiveHorizon) {
		return []*Request{r}
	}
	key := r.LockSet[r.Position-1].InstanceID()
	b, ok := s.received.get(key)
	if !ok {
		b = &receiveBuffer{Last: minStamp}
		s.received.set(key, b)
	}
	if !r.Timestamp.After(b.Last) {
		return nil // a copy
	}
	b.Last = r.Timestamp
	out := []*Request{r}
	return s.deliverReady(b, out)
}

func (s *Sorter) horizonOrMin(t Stamp) Stamp {
	if !t.Before(s.ReceiveHorizon) {
		return t
	}
	return minStamp
}

// deliverReady appends to out the requests at the front of b whose
// predecessor has been delivered (or is past the reorder window), in
// order, and returns it.
func (s *Sorter) deliverReady(b *receiveBuffer, out []*Request) []*Request {
	for {
		next, ok := s.deliverNext(b)
		if !ok {
			return out
		}
		out = append(out, next)
	}
}

func (s *Sorter) deliverNext(b *receiveBuffer) (*Request, bool) {
	if len(b.buffered) == 0 {
		return nil, false
	}
	first := b.buffered[0]
	if !first.Predecessor.After(b.Last) || first.Predecessor.Before(s.ReceiveHorizon) {
		b.buffered = b.buffered[1:]
		b.Last = s.horizonOrMin(first.Timestamp)
		return first, true
	}
	return nil, false
}

// ReleaseCopies delivers, from the front of each sender's buffer, the
// requests that wait for a predecessor although isCopy reports them copies
// of requests already accepted, and what waited behind them. A copy needs
// no order: its original came in order, after every request its run sent
// before it, so the requests the copy waits for are copies too, and may
// never come (a worker that dies after sending them is a reason for copies
// in the first place).
func (s *Sorter) ReleaseCopies(isCopy func(*Request) bool) []*Request {
	var out []*Request
	for _, k := range s.received.keys {
		b, _ := s.received.get(k)
		for len(b.buffered) > 0 && isCopy(b.buffered[0]) {
			first := b.buffered[0]
			b.buffered = b.buffered[1:]
			if first.Timestamp.After(b.Last) {
				b.Last = s.horizonOrMin(first.Timestamp)
			}
			out = append(out, first)
			out = s.deliverReady(b, out)
		}
	}
	return out
}

// Buffered is how many requests wait for a predecessor.
func (s *Sorter) Buffered() int {
	n := 0
	for _, k := range s.received.keys {
		b, _ := s.received.get(k)
		n += len(b.buffered)
	}
	return n
}

func (s *Sorter) write(w *netjson.Writer) {
	w.BeginObject()
	if s.sent.present {
		w.Key("LastSentToInstance")
		w.BeginObject()
		for _, k := range s.sent.keys {
			v, _ := s.sent.get(k)
			w.Key(k)
			w.String(v.String())
		}
		w.EndObject()
	}
	if s.received.present {
		w.Key("ReceivedFromInstance")
		w.BeginObject()
		for _, k := range s.received.keys {
			b, _ := s.received.get(k)
			w.Key(k)
			w.BeginObject()
			w.Key("Last")
			w.String(b.Last.String())
			if b.ExecutionID != "" {
				w.Key("ExecutionId")
				w.String(b.ExecutionID)
			}
			if b.hasBuffered {
				w.Key("Buffered")
				w.BeginObject()
				for _, r := range b.buffered {
					w.Key(r.Timestamp.String())
					r.write(w, false)
				}
				w.EndObject()
			}
			w.EndObject()
		}
		w.EndObject()
	}
	if !s.ReceiveHorizon.IsZero() {
		w.Key("ReceiveHorizon")
		w.String(s.ReceiveHorizon.String())
	}
	if !s.SendHorizon.IsZero() {
		w.Key("SendHorizon")
		w.String(s.SendHorizon.String())
	}
	w.EndObject()
}

// orderedMembers reads a JSON object's members in document order.
func orderedMembers(raw json.RawMessage) ([]string, map[string]json.RawMessage, error) {
	o, err := netjson.ParseObject(raw)
	if err != nil {
		return nil, nil, err
	}
	vals := map[string]json.RawMessage{}
	for _, n := range o.Names() {
		v, _ := o.Raw(n)
		vals[n] = v
	}
	return o.Names(), vals, nil
}

func readSorter(raw json.RawMessage) (*Sorter, error) {
	s := &Sorter{ReceiveHorizon: minStamp, SendHorizon: minStamp}
	if netjson.IsNull(raw) {
		return s, nil
	}
	o, err := netjson.ParseObject(raw)
	if err != nil {
		return nil, fmt.Errorf("sorter: %w", err)
	}
	if raw, ok := o.Present("LastSentToInstance"); ok {
		names, vals, err := orderedMembers(raw)
		if err != nil {
			return nil, fmt.Errorf("LastSentToInstance: %w", err)
		}
		s.sent = orderedMap[Stamp]{present: true, vals: map[string]Stamp{}}
		for _, n := range names {
			var text string
			if err := json.Unmarshal(vals[n], &text); err != nil {
				return nil, fmt.Errorf("LastSentToInstance: %w", err)
			}
			st, err := parseStamp(text)
			if err != nil {
				return nil, err
			}
			s.sent.set(n, st)
		}
	}
	if raw, ok := o.Present("ReceivedFromInstance"); ok {
		names, vals, err := orderedMembers(raw)
		if err != nil {
			return nil, fmt.Errorf("ReceivedFromInstance: %w", err)
		}
		s.received = orderedMap[*receiveBuffer]{present: true, vals: map[string]*receiveBuffer{}}
		for _, n := range names {
			bo, err := netjson.ParseObject(vals[n])
			if err != nil {
				return nil, fmt.Errorf("ReceivedFromInstance: %w", err)
			}
			b := &receiveBuffer{}
			if b.Last, err = stampMember(bo, "Last"); err != nil {
				return nil, err
			}
			if b.ExecutionID, err = bo.String("ExecutionId"); err != nil {
				return nil, err
			}
			if braw, ok := bo.Present("Buffered"); ok {
				b.hasBuffered = true
				bnames, bvals, err := orderedMembers(braw)
				if err != nil {
					return nil, fmt.Errorf("Buffered: %w", err)
				}
				for _, bn := range bnames {
					ro, err := netjson.ParseObject(bvals[bn])
					if err != nil {
						return nil, fmt.Errorf("Buffered: %w", err)
					}
					r, err := requestFrom(ro)
					if err != nil {
						return nil, err
					}
					b.buffered = append(b.buffered, r)
				}
				sort.SliceStable(b.buffered, func(i, j int) bool { return b.buffered[i].Timestamp.Before(b.buffered[j].Timestamp) })
			}
			s.received.set(n, b)
		}
	}
	if s.ReceiveHorizon, err = stampMember(o, "ReceiveHorizon"); err != nil {
		return nil, err
	}
	if s.SendHorizon, err = stampMember(o, "SendHorizon"); err != nil {
		return nil, err
	}
	return s, nil
}
