// Package approval is the human-interaction sample: ask for an approval,
// wait for an "Approval" event, and escalate when nobody answers in time.
package approval

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/azdurable/azdurable/durable"
)

// Request is the sample's input.
type Request struct {
	ID        string `json:"id"`
	Requester string `json:"requester"`
	// TimeoutSeconds is how long to wait for the first approver (default
	// 3600); the escalation waits as long again.
	TimeoutSeconds int `json:"timeoutSeconds,omitempty"`
}

// Decision is the payload of an Approval event.
type Decision struct {
	Approved bool   `json:"approved"`
	By       string `json:"by"`
}

// Outcome is the sample's output.
type Outcome struct {
	RequestID string `json:"requestId"`
	Status    string `json:"status"` // approved, rejected, escalated-approved, escalated-rejected, expired
	By        string `json:"by,omitempty"`
}

// RequestApproval notifies the approver.
var RequestApproval = durable.NewActivity("RequestApproval", func(_ context.Context, r Request) (string, error) {
	return fmt.Sprintf("asked the manager of %s to approve %s", r.Requester, r.ID), nil
})

// Escalate notifies the next approver.
var Escalate = durable.NewActivity("Escalate", func(_ context.Context, r Request) (string, error) {
	return fmt.Sprintf("escalated %s to the director", r.ID), nil
})

// Approval waits for a decision and escalates once after a timeout.
var Approval = durable.NewOrchestration("Approval", func(ctx durable.Context, r Request) (Outcome, error) {
	timeout := time.Duration(r.TimeoutSeconds) * time.Second
	if timeout <= 0 {
		timeout = time.Hour
	}
	out := Outcome{RequestID: r.ID}
	if _, err := RequestApproval.Call(ctx, r).Await(ctx); err != nil {
		return out, err
	}
	_ = ctx.SetCustomStatus("waiting for approval")
	d, err := durable.WaitForEvent[Decision](ctx, "Approval", durable.WithTimeout(timeout)).Await(ctx)
	prefix := ""
	if errors.Is(err, durable.ErrTimeout) {
		if _, err := Escalate.Call(ctx, r).Await(ctx); err != nil {
			return out, err
		}
		_ = ctx.SetCustomStatus("escalated")
		prefix = "escalated-"
		d, err = durable.WaitForEvent[Decision](ctx, "Approval", durable.WithTimeout(timeout)).Await(ctx)
		if errors.Is(err, durable.ErrTimeout) {
			out.Status = "expired"
			_ = ctx.SetCustomStatus("expired")
			return out, nil
		}
	}
	if err != nil {
		return out, err
	}
	out.By = d.By
	out.Status = prefix + "rejected"
	if d.Approved {
		out.Status = prefix + "approved"
	}
	_ = ctx.SetCustomStatus(out.Status)
	return out, nil
})

// Registrations returns the sample's orchestration and activities.
func Registrations() []durable.Registrable {
	return []durable.Registrable{Approval, RequestApproval, Escalate}
}
