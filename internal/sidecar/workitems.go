package sidecar

import (
	"context"
	"errors"
	"time"

	"github.com/azdurable/azdurable/internal/sidecar/pb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// msgStopping ends the work-item streams when the sidecar stops.
const msgStopping = "the sidecar is stopping; connect again"

// GetWorkItems serves one SDK worker: it streams the orchestrator,
// activity and entity work items the worker's limits and filters admit, and a health
// ping when the stream has been idle for Options.HealthPingInterval. The
// stream ends when the worker cancels it or the sidecar stops (then with
// Unavailable, after the work in flight was answered or given back).
func (s *Server) GetWorkItems(req *pb.GetWorkItemsRequest, stream grpc.ServerStreamingServer[pb.WorkItem]) error {
	if s.opts.GoWorker {
		return statusf(codes.FailedPrecondition, "this sidecar runs the task hub's orchestrations in its own Go worker (--worker), so it serves no SDK worker: start the sidecar without --worker")
	}
	ctx := stream.Context()
	w := s.d.newWorker(req, connOf(ctx))
	if err := s.d.join(ctx, w); err != nil {
		if errors.Is(err, errReleased) {
			return status.Error(codes.Unavailable, msgStopping)
		}
		st := status.Convert(grpcError(err))
		if st.Code() == codes.Internal {
			return status.Error(codes.Unavailable, st.Message())
		}
		return st.Err()
	}
	defer s.d.leave(w)
	ping := time.NewTicker(s.opts.HealthPingInterval)
	defer ping.Stop()
	for {
		select {
		case p := <-w.out:
			if !s.d.markSent(p) {
				continue
			}
			if err := stream.Send(p.item); err != nil {
				s.d.finish(p, outcome{err: errUnsent})
				return err
			}
			ping.Reset(s.opts.HealthPingInterval)
		case <-ping.C:
			if err := stream.Send(&pb.WorkItem{Request: &pb.WorkItem_HealthPing{HealthPing: &pb.HealthPing{}}}); err != nil {
				return err
			}
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-s.d.streamsEnd:
			return status.Error(codes.Unavailable, msgStopping)
		}
	}
}

// CompleteOrchestratorTask takes an SDK worker's answer to an orchestrator
// work item: its actions become the episode's history events and
// messages, committed after this call returns. An answer that cannot be
// committed (an action the sidecar does not serve, a timer too far ahead,
// an id storage cannot hold) fails the instance with the reason.
func (s *Server) CompleteOrchestratorTask(_ context.Context, resp *pb.OrchestratorResponse) (*pb.CompleteTaskResponse, error) {
	if err := s.d.answer(kindOrchestration, resp.GetCompletionToken(), resp.GetInstanceId(), 0, resp); err != nil {
		return nil, err
	}
	return &pb.CompleteTaskResponse{}, nil
}

// CompleteActivityTask takes an SDK worker's answer to an activity work
// item: its result or failure is sent to the orchestration.
func (s *Server) CompleteActivityTask(_ context.Context, resp *pb.ActivityResponse) (*pb.CompleteTaskResponse, error) {
	if err := s.d.answer(kindActivity, resp.GetCompletionToken(), resp.GetInstanceId(), resp.GetTaskId(), resp); err != nil {
		return nil, err
	}
	return &pb.CompleteTaskResponse{}, nil
}

// AbandonTaskOrchestratorWorkItem gives an orchestrator work item back to
// the task hub: another worker runs it (the give-back is recorded as the
// reason the instance waits).
func (s *Server) AbandonTaskOrchestratorWorkItem(_ context.Context, req *pb.AbandonOrchestrationTaskRequest) (*pb.AbandonOrchestrationTaskResponse, error) {
	if err := s.d.answer(kindOrchestration, req.GetCompletionToken(), "", 0, nil); err != nil {
		return nil, err
	}
	return &pb.AbandonOrchestrationTaskResponse{}, nil
}

// AbandonTaskActivityWorkItem gives an activity work item back to the
// task hub: another worker runs it.
func (s *Server) AbandonTaskActivityWorkItem(_ context.Context, req *pb.AbandonActivityTaskRequest) (*pb.AbandonActivityTaskResponse, error) {
	if err := s.d.answer(kindActivity, req.GetCompletionToken(), "", 0, nil); err != nil {
		return nil, err
	}
	return &pb.AbandonActivityTaskResponse{}, nil
}

// CompleteEntityTask takes an SDK worker's answer to an entity batch: the
// results, the new state and the actions are applied by the entity
// scheduler's rules (package entity) and committed in the extension's
// format.
func (s *Server) CompleteEntityTask(_ context.Context, resp *pb.EntityBatchResult) (*pb.CompleteTaskResponse, error) {
	if err := s.d.answer(kindEntity, resp.GetCompletionToken(), "", 0, resp); err != nil {
		return nil, err
	}
	return &pb.CompleteTaskResponse{}, nil
}

// AbandonTaskEntityWorkItem gives an entity batch back to the task hub:
// its messages run again, at another worker or the same.
func (s *Server) AbandonTaskEntityWorkItem(_ context.Context, req *pb.AbandonEntityTaskRequest) (*pb.AbandonEntityTaskResponse, error) {
	if err := s.d.answer(kindEntity, req.GetCompletionToken(), "", 0, nil); err != nil {
		return nil, err
	}
	return &pb.AbandonEntityTaskResponse{}, nil
}

// Stats returns the work-item dispatcher's counters.
func (s *Server) Stats() *Stats { return &s.d.stats }
