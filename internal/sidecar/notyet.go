package sidecar

import (
	"context"

	"github.com/azdurable/azdurable/internal/sidecar/pb"
	"google.golang.org/grpc/codes"
)

// The calls azdurable sidecar does not serve yet answer Unimplemented with
// a message that says what to use instead; docs/sidecar.md lists them.
const msgEntity = "azdurable sidecar does not serve durable entities yet (%s)"

// CompleteEntityTask is not served yet.
func (s *Server) CompleteEntityTask(context.Context, *pb.EntityBatchResult) (*pb.CompleteTaskResponse, error) {
	return nil, statusf(codes.Unimplemented, msgEntity, "CompleteEntityTask")
}

// AbandonTaskEntityWorkItem is not served yet.
func (s *Server) AbandonTaskEntityWorkItem(context.Context, *pb.AbandonEntityTaskRequest) (*pb.AbandonEntityTaskResponse, error) {
	return nil, statusf(codes.Unimplemented, msgEntity, "AbandonTaskEntityWorkItem")
}

// SignalEntity is not served yet.
func (s *Server) SignalEntity(context.Context, *pb.SignalEntityRequest) (*pb.SignalEntityResponse, error) {
	return nil, statusf(codes.Unimplemented, msgEntity, "SignalEntity")
}

// GetEntity is not served yet.
func (s *Server) GetEntity(context.Context, *pb.GetEntityRequest) (*pb.GetEntityResponse, error) {
	return nil, statusf(codes.Unimplemented, msgEntity, "GetEntity")
}

// QueryEntities is not served yet.
func (s *Server) QueryEntities(context.Context, *pb.QueryEntitiesRequest) (*pb.QueryEntitiesResponse, error) {
	return nil, statusf(codes.Unimplemented, msgEntity, "QueryEntities")
}

// CleanEntityStorage is not served yet.
func (s *Server) CleanEntityStorage(context.Context, *pb.CleanEntityStorageRequest) (*pb.CleanEntityStorageResponse, error) {
	return nil, statusf(codes.Unimplemented, msgEntity, "CleanEntityStorage")
}

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
