package client

import (
	"context"
	"errors"
)

// startConflict turns the backend's refusal of a start whose id is taken
// into a *StatusError (Err ErrInstanceExists) that says which status the
// existing instance has; other errors pass unchanged. The status is read
// after the refusal; when the instance is gone by then, the status is
// Pending, the least a taken id can be.
func (c *Client) startConflict(ctx context.Context, op, instanceID string, err error) error {
	if !errors.Is(err, ErrInstanceExists) {
		return err
	}
	se := &StatusError{Op: op, InstanceID: instanceID, Status: Pending, Err: ErrInstanceExists}
	if st, gerr := c.be.GetState(ctx, instanceID, false); gerr == nil {
		se.Status = st.Status
	}
	return se
}
