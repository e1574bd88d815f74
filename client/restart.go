package client

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/provider"
)

// RestartOption configures Restart.
type RestartOption func(*restartOptions)

type restartOptions struct {
	newID  bool
	id     string
	dedupe []Status
}

// WithNewInstanceID restarts under another instance id: id, or a new GUID
// (32 hex digits, as ScheduleNew makes) when id is "". The instance being
// restarted is left as it is, whatever its status.
func WithNewInstanceID(id string) RestartOption {
	return func(o *restartOptions) { o.newID, o.id = true, id }
}

// RestartDedupeStatuses are the statuses in which an instance cannot be
// restarted in place: the Durable Functions extension's (its
// NonRunningStates), which answers 409 "A non-terminal instance with this
// instance ID already exists." for them.
var RestartDedupeStatuses = []Status{Running, Pending, ContinuedAsNew, Suspended}

// Restart starts an instance's orchestration again, with its name,
// version, tags and its input exactly as stored, and returns the id of the
// new run. By default it restarts in place: the instance must have ended
// (Completed, Failed, Canceled or Terminated), and a new execution
// replaces the old one under the same id; an instance that has not ended
// gives a *StatusError matching ErrInstanceExists (also when one is
// started under the id meanwhile). WithNewInstanceID starts a new instance
// beside it, whatever its status, as the extension's restart route does by
// default. An unknown id gives ErrNotFound.
func (c *Client) Restart(ctx context.Context, instanceID string, opts ...RestartOption) (string, error) {
	o := restartOptions{dedupe: RestartDedupeStatuses}
	for _, f := range opts {
		f(&o)
	}
	if err := provider.ValidateInstanceID(instanceID); err != nil {
		return "", err
	}
	target := instanceID
	if o.newID {
		target = o.id
		if target == "" {
			target = history.NewID()
		}
		if err := provider.ValidateInstanceID(target); err != nil {
			return "", err
		}
	}
	st, err := c.be.GetState(ctx, instanceID, true)
	if err != nil {
		return "", err
	}
	if target == instanceID && slices.Contains(o.dedupe, st.Status) {
		return "", &StatusError{Op: "restart", InstanceID: instanceID, Status: st.Status, Err: ErrInstanceExists}
	}
	inst := history.OrchestrationInstance{InstanceID: target, ExecutionID: history.NewID()}
	start := &history.ExecutionStartedEvent{OrchestrationInstance: inst, Name: st.Name, Version: st.Version,
		Input: st.Input, Tags: st.Tags, EventBase: history.EventBase{EventID: -1, Timestamp: c.now()}}
	err = c.be.CreateInstance(ctx, &history.TaskMessage{Event: start, OrchestrationInstance: inst}, o.dedupe)
	if errors.Is(err, ErrInstanceExists) {
		status := st.Status
		if now, gerr := c.be.GetState(ctx, target, false); gerr == nil {
			status = now.Status
		}
		return "", &StatusError{Op: "restart", InstanceID: target, Status: status, Err: ErrInstanceExists}
	}
	if err != nil {
		return "", fmt.Errorf("client: restart of %q: %w", instanceID, err)
	}
	return target, nil
}
