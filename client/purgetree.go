package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/provider"
)

// maxPurgeDepth bounds how deep a recursive purge follows
// sub-orchestrations.
const maxPurgeDepth = 64

// PurgeRecursive purges a finished instance as Purge does, and first the
// sub-orchestrations its current execution started, theirs included, as
// the Durable Task SDKs' recursive purge asks. A sub-orchestration is
// purged only once it has finished: one that still runs, or that was
// started again under its id, is left as it is, and so are its own
// children. Children are purged before their parent, so a purge that
// stopped half-way (a crash, a storage error) can be run again and finds
// the parent with the children that are left.
//
// The instance itself follows Purge's rules: an unfinished one gives a
// *StatusError matching ErrNotTerminal, an unknown id deletes nothing.
func (c *Client) PurgeRecursive(ctx context.Context, instanceID string) (provider.PurgeResult, error) {
	if err := provider.ValidateInstanceID(instanceID); err != nil {
		return provider.PurgeResult{}, err
	}
	st, err := c.be.GetState(ctx, instanceID, false)
	if errors.Is(err, ErrNotFound) {
		return provider.PurgeResult{Complete: true}, nil
	}
	if err != nil {
		return provider.PurgeResult{}, err
	}
	if !provider.Purgeable(st.Status) {
		return provider.PurgeResult{}, &StatusError{Op: "purge", InstanceID: instanceID, Status: st.Status, Err: ErrNotTerminal}
	}
	total := provider.PurgeResult{Complete: true}
	visited := map[string]bool{instanceID: true}
	if err := c.purgeChildren(ctx, instanceID, visited, 0, &total); err != nil {
		total.Complete = false
		return total, err
	}
	r, err := c.be.Purge(ctx, instanceID)
	addPurge(&total, r)
	return total, err
}

// purgeChildren purges the finished sub-orchestrations that the current
// execution of instanceID started, depth first.
func (c *Client) purgeChildren(ctx context.Context, instanceID string, visited map[string]bool, depth int, total *provider.PurgeResult) error {
	if depth >= maxPurgeDepth {
		return fmt.Errorf("client: purge of %q: sub-orchestrations nested more than %d deep", instanceID, maxPurgeDepth)
	}
	events, err := c.be.History(ctx, instanceID, "")
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, ev := range events {
		created, ok := ev.(*history.SubOrchestrationInstanceCreatedEvent)
		if !ok || created.InstanceID == "" || visited[created.InstanceID] {
			continue
		}
		child := created.InstanceID
		visited[child] = true
		st, err := c.be.GetState(ctx, child, false)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if !provider.Purgeable(st.Status) {
			continue
		}
		if err := c.purgeChildren(ctx, child, visited, depth+1, total); err != nil {
			return err
		}
		r, err := c.be.Purge(ctx, child)
		addPurge(total, r)
		if err != nil {
			return err
		}
	}
	return nil
}

// PurgeWhereRecursive purges the finished instances that match the filter,
// each with its finished sub-orchestrations (see PurgeRecursive), under
// PurgeWhere's rules: it never purges an unfinished instance, and a filter
// with no finished status fails with provider.ErrPurgeNeedsStatuses. When
// ctx ends first, it returns what it deleted so far with Complete false
// and no error.
func (c *Client) PurgeWhereRecursive(ctx context.Context, f PurgeFilter) (provider.PurgeResult, error) {
	statuses, err := f.PurgeStatuses()
	if err != nil {
		return provider.PurgeResult{}, err
	}
	to := f.CreatedTo
	if to.IsZero() {
		to = c.now()
	}
	q := Query{Statuses: statuses, CreatedFrom: f.CreatedFrom, CreatedTo: to}
	total := provider.PurgeResult{}
	token := ""
	for {
		if ctx.Err() != nil {
			return total, nil
		}
		page, err := c.be.Query(ctx, q, token)
		if err != nil {
			if ctx.Err() != nil {
				return total, nil
			}
			return total, err
		}
		for _, st := range page.States {
			r, err := c.PurgeRecursive(ctx, st.OrchestrationInstance.InstanceID)
			addPurge(&total, r)
			switch {
			case ctx.Err() != nil:
				total.Complete = false
				return total, nil
			case errors.Is(err, ErrNotTerminal):
				// Started again since the query read it: not purged.
			case err != nil:
				total.Complete = false
				return total, err
			}
		}
		if page.ContinuationToken == "" {
			total.Complete = true
			return total, nil
		}
		token = page.ContinuationToken
	}
}

func addPurge(total *provider.PurgeResult, r provider.PurgeResult) {
	total.InstancesDeleted += r.InstancesDeleted
	total.RowsDeleted += r.RowsDeleted
}
