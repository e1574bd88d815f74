package client

import (
	"context"
	"fmt"
	"time"

	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/entity"
	"github.com/google/uuid"
)

// EntitySignal is one signal with everything a protocol client may choose
// about it (SignalEntity takes the common case).
type EntitySignal struct {
	Entity    durable.EntityID
	Operation string
	// Input is the operation's input, encoded as SignalEntity encodes it
	// (Verbatim stores text as it is); nil sends none.
	Input any
	// RequestID identifies the request; "" makes a new UUID.
	RequestID string
	// At delivers the signal at a time instead of at once.
	At *time.Time
}

// SendEntitySignal sends a signal as the extension's client does: an "op"
// EventRaised (or "op@<time>" for a scheduled one) whose RequestMessage has
// no sender and no message clock. The entity is created by its first
// message.
func (c *Client) SendEntitySignal(ctx context.Context, s EntitySignal) error {
	id := durable.NewEntityID(s.Entity.Name, s.Entity.Key)
	if err := id.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var p *string
	if s.Input != nil {
		var err error
		if p, err = c.encodePayload(s.Input); err != nil {
			return fmt.Errorf("client: encoding the operation input: %w", err)
		}
	}
	op := s.Operation
	reqID := s.RequestID
	if reqID == "" {
		reqID = uuid.NewString()
	}
	r := &entity.Request{Op: &op, Signal: true, Input: p, ID: reqID}
	name := entity.OpEvent
	if s.At != nil {
		due := entity.UTCStamp(*s.At)
		r.Due = &due
		name = entity.ScheduledOpEvent(entity.DeliveryTime(*s.At, c.now()))
	}
	text := r.Encode()
	return c.send(ctx, id.InstanceID(), &history.EventRaisedEvent{Name: name, Input: &text})
}
