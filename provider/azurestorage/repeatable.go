package azurestorage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/tables"
)

// CompleteOrchestration commits an episode (completeOrchestration) and
// marks a failure that the same commit would get again as a
// provider.RepeatableError, so that the worker quarantines an episode
// refused the same way twice instead of running it, and sending its
// messages, for ever.
// A commit that succeeds restarts the back-off of the instance's
// give-backs.
func (b *Backend) CompleteOrchestration(ctx context.Context, wi *provider.OrchestrationWorkItem, r *provider.EpisodeResult) error {
	err := repeatable(b.completeOrchestration(ctx, wi, r))
	if err == nil {
		b.diag.forget(orchGiveBackKey(wi.InstanceID))
	}
	return err
}

// repeatable wraps err in a provider.RepeatableError unless it may pass on
// another try: a lost lock, a cancelled or timed-out call, a network
// failure, or any answer of the service other than 400 Bad Request and 413
// Request Entity Too Large (those refuse the request itself). Errors that
// never reached the service (a value the client refuses to send) repeat.
func repeatable(err error) error {
	if err == nil || errors.Is(err, provider.ErrLockLost) || errors.Is(err, provider.ErrInvalid) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var te *tables.Error
	if errors.As(err, &te) && te.StatusCode != 0 {
		if te.StatusCode != 400 && te.StatusCode != 413 {
			return err
		}
		return &provider.RepeatableError{Signature: fmt.Sprintf("HTTP %d %s (%s %s)", te.StatusCode, te.Code, te.Op, te.Table), Err: err}
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		if re.StatusCode != 400 && re.StatusCode != 413 {
			return err
		}
		return &provider.RepeatableError{Signature: fmt.Sprintf("HTTP %d %s", re.StatusCode, re.ErrorCode), Err: err}
	}
	var ne net.Error
	var ue *url.Error
	if errors.As(err, &ne) || errors.As(err, &ue) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return err
	}
	return &provider.RepeatableError{Signature: err.Error(), Err: err}
}
