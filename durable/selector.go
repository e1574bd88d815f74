package durable

import "errors"

// Selector waits for the first of several futures or event channels, like a
// select statement. Readiness follows history order.
type Selector struct {
	cases []selectCase
	def   func()
}

type selectCase struct {
	future  Awaitable
	onReady func()
	// for receive cases
	recv interface {
		ready(ctx Context) Awaitable
		deliver(ctx Context)
	}
}

// NewSelector returns an empty selector.
func NewSelector(ctx Context) *Selector { return &Selector{} }

// AddFuture adds a case that runs cb when f is done.
func (s *Selector) AddFuture(f Awaitable, cb func(f Awaitable)) *Selector {
	s.cases = append(s.cases, selectCase{future: f, onReady: func() { cb(f) }})
	return s
}

// AddDefault adds a case that runs when no other case is ready.
func (s *Selector) AddDefault(cb func()) *Selector {
	s.def = cb
	return s
}

type receiveCase[T any] struct {
	ch *EventChannel[T]
	cb func(v T, err error)
}

func (r *receiveCase[T]) ready(ctx Context) Awaitable {
	return Future[T]{t: r.ch.next(ctx)}
}

func (r *receiveCase[T]) deliver(ctx Context) {
	v, err := r.ch.Receive(ctx)
	r.cb(v, err)
}

// AddReceive adds a case that receives the next event of ch.
func AddReceive[T any](s *Selector, ch *EventChannel[T], cb func(v T, err error)) *Selector {
	s.cases = append(s.cases, selectCase{recv: &receiveCase[T]{ch: ch, cb: cb}})
	return s
}

// Select waits until a case is ready and runs its callback; when several are
// ready, the one that became ready first in history runs. With a default
// case, Select never waits.
func (s *Selector) Select(ctx Context) error {
	if len(s.cases) == 0 && s.def == nil {
		return errors.New("durable: Select with no cases")
	}
	futures := make([]Awaitable, len(s.cases))
	for i, c := range s.cases {
		if c.recv != nil {
			futures[i] = c.recv.ready(ctx)
		} else {
			futures[i] = c.future
		}
	}
	i := firstDone(futures)
	if i < 0 && s.def != nil {
		s.def()
		return nil
	}
	if i < 0 {
		var err error
		if i, err = WhenAny(ctx, futures...); err != nil {
			return err
		}
	}
	c := s.cases[i]
	if c.recv != nil {
		c.recv.deliver(ctx)
	} else {
		c.onReady()
	}
	return nil
}
