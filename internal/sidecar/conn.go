package sidecar

import (
	"context"
	"sync"

	"google.golang.org/grpc/stats"
)

// connTracker tells the streams and calls of one client connection when
// that connection closes. An SDK worker that stops gracefully cancels its
// work-item stream first and completes the work items it holds on the same
// connection before it closes it; one that dies closes the connection at
// once. The dispatcher tells the two apart with this.
type connTracker struct{}

// clientConn is one client connection; closed is closed when it ends.
type clientConn struct {
	closed    chan struct{}
	closeOnce sync.Once
}

type connKey struct{}

// connOf returns the connection of a call's context, or nil (a context
// that did not come from the server, in tests).
func connOf(ctx context.Context) *clientConn {
	c, _ := ctx.Value(connKey{}).(*clientConn)
	return c
}

func (connTracker) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return context.WithValue(ctx, connKey{}, &clientConn{closed: make(chan struct{})})
}

func (connTracker) HandleConn(ctx context.Context, s stats.ConnStats) {
	if _, ok := s.(*stats.ConnEnd); ok {
		if c := connOf(ctx); c != nil {
			c.closeOnce.Do(func() { close(c.closed) })
		}
	}
}

func (connTracker) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

func (connTracker) HandleRPC(context.Context, stats.RPCStats) {}
