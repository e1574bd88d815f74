package client

import (
	"context"
	"errors"

	"github.com/azdurable/azdurable/provider"
)

// PurgeFilter selects instances to purge (see provider.PurgeFilter).
type PurgeFilter = provider.PurgeFilter

// Purge deletes a finished instance's history, status and payload blobs.
// An instance that has not finished (Running, Pending, Suspended,
// ContinuedAsNew) is refused with a *StatusError whose Err is
// ErrNotTerminal, as C#'s client refuses it: terminate it first. An
// unknown id deletes nothing (InstancesDeleted 0) and is no error.
//
// The status is read before the purge; an instance restarted in place
// between the two could still be purged, as in C#.
func (c *Client) Purge(ctx context.Context, instanceID string) (provider.PurgeResult, error) {
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
	return c.be.Purge(ctx, instanceID)
}

// PurgeWhere purges the finished instances that match the filter. It
// never purges an unfinished instance: unfinished statuses in f.Statuses
// are dropped, and AllStatuses means every finished status. A filter with
// no finished status fails with provider.ErrPurgeNeedsStatuses.
func (c *Client) PurgeWhere(ctx context.Context, f PurgeFilter) (provider.PurgeResult, error) {
	if _, err := f.PurgeStatuses(); err != nil {
		return provider.PurgeResult{}, err
	}
	return c.be.PurgeWhere(ctx, f)
}
