package client

import (
	"context"
	"iter"
	"strings"
	"time"

	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/internal/entity"
)

// EntityQuery selects entities. Zero values mean "no filter".
type EntityQuery struct {
	// NamePrefix selects entities whose name starts with it (names are
	// compared lower-cased); ExactName selects one name.
	NamePrefix string
	ExactName  string
	// KeyPrefix, with ExactName, selects the keys that start with it
	// (compared as they are).
	KeyPrefix string
	// LastOperationFrom and LastOperationTo bound the time of the
	// entity's last batch (the start of its current execution).
	LastOperationFrom, LastOperationTo time.Time
	// PageSize bounds the instances read per page (0 = 100); a page may
	// hold fewer entities, since deleted ones are left out.
	PageSize int
	// FetchState includes the state.
	FetchState bool
	// IncludeDeleted also lists entities without state (deleted, or only
	// locked or queued).
	IncludeDeleted bool
}

// EntityPage is one page of entities.
type EntityPage struct {
	Entities          []*EntityMetadata
	ContinuationToken string
}

func (q EntityQuery) instanceQuery() Query {
	prefix := "@"
	switch {
	case q.ExactName != "":
		prefix += strings.ToLower(q.ExactName) + "@" + q.KeyPrefix
	case q.NamePrefix != "":
		prefix += strings.ToLower(q.NamePrefix)
	}
	return Query{InstanceIDPrefix: prefix, CreatedFrom: q.LastOperationFrom, CreatedTo: q.LastOperationTo,
		PageSize: q.PageSize, FetchPayloads: true}
}

// ListEntitiesPage returns one page of entities; token "" is the first.
func (c *Client) ListEntitiesPage(ctx context.Context, q EntityQuery, token string) (*EntityPage, error) {
	p, err := c.QueryPage(ctx, q.instanceQuery(), token)
	if err != nil {
		return nil, err
	}
	out := &EntityPage{ContinuationToken: p.ContinuationToken}
	for _, st := range p.States {
		if !entity.IsInstanceID(st.InstanceID) {
			continue
		}
		m, err := EntityMetadataOf(st)
		if err != nil {
			return nil, err
		}
		if !m.Exists && !q.IncludeDeleted {
			continue
		}
		if !q.FetchState {
			m.State = nil
		}
		out.Entities = append(out.Entities, m)
	}
	return out, nil
}

// ListEntities iterates over every entity that matches q.
func (c *Client) ListEntities(ctx context.Context, q EntityQuery) iter.Seq2[*EntityMetadata, error] {
	return allPages(func(token string) ([]*EntityMetadata, string, error) {
		p, err := c.ListEntitiesPage(ctx, q, token)
		if err != nil {
			return nil, "", err
		}
		return p.Entities, p.ContinuationToken, nil
	})
}

// DeleteEntity sends the entity its "delete" operation, as the extension's
// DELETE route does: a Go entity (and a C# class-based one) then deletes
// its state; the instance stays until CleanEntityStorage removes it.
func (c *Client) DeleteEntity(ctx context.Context, id durable.EntityID) error {
	return c.SignalEntity(ctx, id, "delete", nil)
}
