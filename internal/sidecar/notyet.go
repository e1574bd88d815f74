package sidecar

import (
	"context"

	"github.com/azdurable/azdurable/internal/sidecar/pb"
	"google.golang.org/grpc/codes"
)

// The calls azdurable sidecar does not serve answer Unimplemented with a
// message that says what to use instead; docs/sidecar.md lists them.

// DeleteTaskHub is not served: deleting a hub is left to `azdurable hub
// delete`, which asks for confirmation.
func (s *Server) DeleteTaskHub(context.Context, *pb.DeleteTaskHubRequest) (*pb.DeleteTaskHubResponse, error) {
	return nil, statusf(codes.Unimplemented, "azdurable sidecar does not delete task hubs: use `azdurable hub delete --task-hub %s`", s.opts.TaskHub)
}

// SkipGracefulOrchestrationTerminations is not served yet: terminate the
// instances with TerminateInstance.
func (s *Server) SkipGracefulOrchestrationTerminations(context.Context, *pb.SkipGracefulOrchestrationTerminationsRequest) (*pb.SkipGracefulOrchestrationTerminationsResponse, error) {
	return nil, statusf(codes.Unimplemented, "azdurable sidecar does not mark instances terminated without running them yet (SkipGracefulOrchestrationTerminations): use TerminateInstance")
}

var _ pb.TaskHubSidecarServiceServer = (*Server)(nil)
