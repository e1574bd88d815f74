package entity

import (
	"encoding/json"
	"fmt"

	"github.com/azdurable/azdurable/internal/netjson"
)

// State is the extension's SchedulerState: what an entity keeps between
// batches, stored as its instance's input.
type State struct {
	// Exists is set while the entity has state (after its first operation
	// that did not delete it).
	Exists bool
	// Value is the entity's state as JSON text (nil: none).
	Value *string
	// Queue holds requests waiting for the entity (behind a lock, or past
	// a batch's limit).
	Queue []*Request
	// LockedBy is the orchestration instance that holds the entity's lock.
	LockedBy string
	// Suspended is set while the entity waits for its continue message.
	Suspended bool
	// Sorter orders and de-duplicates received requests.
	Sorter *Sorter
	// Dedupe drops the copies the sorter lets through (DedupeMember,
	// written last and only when it holds something).
	Dedupe *Dedupe
}

// Empty reports whether the entity holds nothing: no state, no queue, no
// lock (the extension's IsEmpty).
func (s *State) Empty() bool { return !s.Exists && len(s.Queue) == 0 && s.LockedBy == "" }

// Encode writes the state as the extension stores it (no $type anywhere).
func (s *State) Encode() string {
	w := netjson.NewWriter(nil)
	w.BeginObject()
	if s.Exists {
		w.Key("exists")
		w.Bool(true)
	}
	if s.Value != nil {
		w.Key("state")
		w.String(*s.Value)
	}
	if len(s.Queue) > 0 {
		w.Key("queue")
		w.BeginArray()
		for _, r := range s.Queue {
			r.write(w, false)
		}
		w.EndArray()
	}
	if s.LockedBy != "" {
		w.Key("lockedBy")
		w.String(s.LockedBy)
	}
	if s.Suspended {
		w.Key("suspended")
		w.Bool(true)
	}
	w.Key("sorter")
	sorter := s.Sorter
	if sorter == nil {
		sorter = &Sorter{}
	}
	sorter.write(w)
	if !s.Dedupe.empty() {
		w.Key(DedupeMember)
		s.Dedupe.write(w)
	}
	w.EndObject()
	return string(w.Bytes())
}

// DecodeState reads a scheduler state; nil (an instance started by its
// first message, or one that continued with no state) is a fresh state.
func DecodeState(text *string) (*State, error) {
	s := &State{Sorter: &Sorter{}, Dedupe: &Dedupe{}}
	if text == nil || *text == "" || *text == "null" {
		return s, nil
	}
	o, err := netjson.ParseObject([]byte(*text))
	if err != nil {
		return nil, fmt.Errorf("entity state: %w", err)
	}
	if s.Exists, err = o.Bool("exists"); err != nil {
		return nil, err
	}
	if s.Value, err = o.NullableString("state"); err != nil {
		return nil, err
	}
	if raw, ok := o.Present("queue"); ok {
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, fmt.Errorf("entity state queue: %w", err)
		}
		for _, it := range items {
			ro, err := netjson.ParseObject(it)
			if err != nil {
				return nil, fmt.Errorf("entity state queue: %w", err)
			}
			r, err := requestFrom(ro)
			if err != nil {
				return nil, err
			}
			s.Queue = append(s.Queue, r)
		}
	}
	if s.LockedBy, err = o.String("lockedBy"); err != nil {
		return nil, err
	}
	if s.Suspended, err = o.Bool("suspended"); err != nil {
		return nil, err
	}
	if raw, ok := o.Present("sorter"); ok {
		if s.Sorter, err = readSorter(raw); err != nil {
			return nil, err
		}
	}
	if raw, ok := o.Present(DedupeMember); ok {
		if s.Dedupe, err = readDedupe(raw); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Status is the custom status an entity's instance shows (the extension's
// EntityStatus): {"entityExists":true}, with the queue's length and the
// lock holder when there are.
func (s *State) Status() string {
	w := netjson.NewWriter(nil)
	w.BeginObject()
	if s.Exists {
		w.Key("entityExists")
		w.Bool(true)
	}
	if n := len(s.Queue); n > 0 {
		w.Key("queueSize")
		w.Int(int64(n))
	}
	if s.LockedBy != "" {
		w.Key("lockedBy")
		w.String(s.LockedBy)
	}
	w.EndObject()
	return string(w.Bytes())
}
