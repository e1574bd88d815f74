package queues

import (
	"context"
	"testing"
	"time"
)

// TestPollerStopDoesNotCutAReceive: a receive hides the messages it
// returns as soon as the service handles it, so one cut off by the end of
// the polling context (a partition lost or handed over) loses its answer
// and leaves its messages hidden for the whole visibility, five minutes
// for a control queue: a chain on a loaded machine waited that long after
// each lease its worker renewed too late. The receive in flight finishes,
// bounded by receiveGrace, and its messages are returned so that the
// caller can give them back.
func TestPollerStopDoesNotCutAReceive(t *testing.T) {
	inRecv := make(chan struct{})
	answer := make(chan struct{})
	recv := func(ctx context.Context, n int, visibility time.Duration) ([]*Message, error) {
		close(inRecv)
		select {
		case <-answer:
			return []*Message{{ID: "m"}}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	p, err := newPoller("q", recv, &PollerOptions{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		msgs []*Message
		err  error
	}
	done := make(chan result, 1)
	go func() {
		msgs, err := p.Next(ctx)
		done <- result{msgs, err}
	}()
	<-inRecv
	cancel()
	close(answer)
	var r result
	select {
	case r = <-done:
	case <-time.After(3 * time.Minute):
		t.Fatal("Next did not return")
	}
	if r.err != nil || len(r.msgs) != 1 {
		t.Fatalf("Next = %d messages, %v; want the receive's message", len(r.msgs), r.err)
	}
}
