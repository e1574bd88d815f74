package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/internal/entity"
	"github.com/azdurable/azdurable/internal/payload"
)

// SignalEntity sends a one-way operation to an entity (at a time with
// durable.SignalAt), as the extension's client does: an "op" EventRaised
// whose RequestMessage has no sender and no message clock. The entity is
// created by its first message.
func (c *Client) SignalEntity(ctx context.Context, id durable.EntityID, operation string, input any, opts ...durable.SignalOption) error {
	return c.SendEntitySignal(ctx, EntitySignal{Entity: id, Operation: operation, Input: input, At: durable.SignalTime(opts...)})
}

// EntityMetadata is what a client reads of an entity.
type EntityMetadata struct {
	ID durable.EntityID
	// Exists reports whether the entity has state; State is that state
	// (JSON text, nil when it has none or when it was not fetched).
	Exists bool
	State  *string
	// LockedBy is the orchestration holding the entity's lock; QueueSize
	// the requests waiting for it.
	LockedBy  string
	QueueSize int
	// LastModifiedAt is when the entity last ran a batch.
	LastModifiedAt time.Time

	// conv decodes the state (nil: JSON).
	conv payload.Converter
}

// DecodeState decodes the entity's state into v, with the DataConverter of
// the client that read it.
func (m *EntityMetadata) DecodeState(v any) error {
	if m.State == nil {
		return errors.New("client: no value")
	}
	return payload.Or(m.conv).Unmarshal(*m.State, v)
}

// GetEntity reads an entity's state from its instance's status, or returns
// ErrNotFound when the entity never received a message (or was purged).
func (c *Client) GetEntity(ctx context.Context, id durable.EntityID) (*EntityMetadata, error) {
	id = durable.NewEntityID(id.Name, id.Key)
	if err := id.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	st, err := c.GetState(ctx, id.InstanceID())
	if err != nil {
		return nil, err
	}
	return EntityMetadataOf(st)
}

// EntityMetadataOf reads an entity instance's status: its input is the
// scheduler state.
func EntityMetadataOf(st *State) (*EntityMetadata, error) {
	id, ok := durable.ParseEntityInstanceID(st.InstanceID)
	if !ok {
		return nil, fmt.Errorf("%w: %q is not an entity's instance id", ErrInvalid, st.InstanceID)
	}
	s, err := entity.DecodeState(st.Input)
	if err != nil {
		return nil, fmt.Errorf("client: entity %s: %w", st.InstanceID, err)
	}
	return &EntityMetadata{ID: id, Exists: s.Exists, State: s.Value, LockedBy: s.LockedBy, QueueSize: len(s.Queue),
		LastModifiedAt: st.LastUpdatedAt, conv: st.conv}, nil
}
