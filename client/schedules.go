package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/schedule"
)

// Errors of the schedule operations.
var (
	// ErrScheduleExists means a schedule with the name is active (or
	// paused); delete it first.
	ErrScheduleExists = errors.New("client: a schedule with this name exists")
	// ErrScheduleNotFound means no schedule with the name is running: it
	// was never created, or it has finished (deleted, ended, failed or
	// terminated).
	ErrScheduleNotFound = errors.New("client: no running schedule has this name")
)

// CreateSchedule creates the schedule name, which starts o.Orchestration
// on o.Cron until it is deleted. Everything is
// validated before anything is written; invalid options give an error that
// matches provider.ErrInvalid. A schedule with the name that has not
// finished gives ErrScheduleExists, also when another caller creates it at
// the same moment; a deleted or ended one is replaced.
func (c *Client) CreateSchedule(ctx context.Context, name string, o ScheduleOptions) (*ScheduleInfo, error) {
	now := c.now()
	d, err := schedule.New(name, o.definition(), now, c.conv)
	if err != nil {
		return nil, err
	}
	revision := history.NewID()
	input, err := schedule.StartInput(d, now, revision, c.conv)
	if err != nil {
		return nil, fmt.Errorf("client: encoding the schedule: %w", err)
	}
	id := d.InstanceID()
	if _, err := c.ScheduleNew(ctx, schedule.OrchestrationName, input, WithInstanceID(id)); err != nil {
		if errors.Is(err, ErrInstanceExists) {
			return nil, fmt.Errorf("%w: %q", ErrScheduleExists, name)
		}
		return nil, err
	}
	// Two creations at once can both get this far on Azure Storage, where
	// the losing write of the status row is ignored (its start message is
	// then dropped by the worker): the row says whose creation won.
	info, err := c.GetSchedule(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("client: schedule %q was created, but reading it back failed: %w", name, err)
	}
	if info.Revision != revision {
		return nil, fmt.Errorf("%w: %q (created by another caller at the same time)", ErrScheduleExists, name)
	}
	return info, nil
}

// GetSchedule returns the schedule name, whatever its status, or
// ErrScheduleNotFound if there is none.
func (c *Client) GetSchedule(ctx context.Context, name string) (*ScheduleInfo, error) {
	if err := schedule.ValidateName(name); err != nil {
		return nil, err
	}
	st, err := c.be.GetState(ctx, schedule.InstanceID(name), true)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: %q", ErrScheduleNotFound, name)
	}
	if err != nil {
		return nil, err
	}
	info, err := schedule.Describe(st, c.conv)
	if errors.Is(err, schedule.ErrNotSchedule) {
		return nil, fmt.Errorf("%w: %q (%v)", ErrScheduleNotFound, name, err)
	}
	if err != nil {
		return nil, err
	}
	return scheduleInfo(info), nil
}

// PauseSchedule pauses a schedule: ticks are skipped until it is resumed.
// Pause, resume and delete are messages that the schedule applies one at a
// time in the order they arrive; this call returns once the message is
// sent.
func (c *Client) PauseSchedule(ctx context.Context, name string) error {
	return c.controlSchedule(ctx, name, schedule.OpPause)
}

// ResumeSchedule resumes a paused schedule from its next tick; the ticks
// that fell during the pause are not started.
func (c *Client) ResumeSchedule(ctx context.Context, name string) error {
	return c.controlSchedule(ctx, name, schedule.OpResume)
}

// DeleteSchedule deletes a schedule: it starts nothing more. The instances
// it started are left alone, and its own instance stays in the task hub,
// finished, until it is purged like any other (azdurable instances purge).
func (c *Client) DeleteSchedule(ctx context.Context, name string) error {
	return c.controlSchedule(ctx, name, schedule.OpDelete)
}

// controlSchedule sends a control event to a schedule that has not
// finished. The event is applied when the schedule gets to it, in arrival
// order, so concurrent calls never interleave within the schedule.
func (c *Client) controlSchedule(ctx context.Context, name, op string) error {
	info, err := c.GetSchedule(ctx, name)
	if err != nil {
		return err
	}
	if info.Status.Finished() {
		return fmt.Errorf("%w: %q is %s", ErrScheduleNotFound, name, info.Status)
	}
	return c.RaiseEvent(ctx, info.InstanceID, schedule.ControlEventName, schedule.Control{Op: op})
}

// ScheduleListOption configures ListSchedules.
type ScheduleListOption func(*scheduleListOptions)

type scheduleListOptions struct{ includeFinished bool }

// IncludeFinished also lists schedules that will start nothing more:
// deleted, ended, failed or terminated (when include is true).
func IncludeFinished(include bool) ScheduleListOption {
	return func(o *scheduleListOptions) { o.includeFinished = include }
}

// ListSchedules returns the task hub's schedules in name order.
func (c *Client) ListSchedules(ctx context.Context, opts ...ScheduleListOption) ([]*ScheduleInfo, error) {
	var o scheduleListOptions
	for _, f := range opts {
		f(&o)
	}
	var out []*ScheduleInfo
	token := ""
	for {
		p, err := c.be.Query(ctx, Query{InstanceIDPrefix: schedule.IDPrefix, FetchPayloads: true}, token)
		if err != nil {
			return nil, err
		}
		for _, st := range p.States {
			info, err := schedule.Describe(st, c.conv)
			if errors.Is(err, schedule.ErrNotSchedule) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if !o.includeFinished && info.Status.Finished() {
				continue
			}
			out = append(out, scheduleInfo(info))
		}
		if p.ContinuationToken == "" {
			break
		}
		token = p.ContinuationToken
	}
	slices.SortFunc(out, func(a, b *ScheduleInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
