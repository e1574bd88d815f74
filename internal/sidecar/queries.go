package sidecar

import (
	"context"
	"errors"
	"strings"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/sidecar/pb"
	"github.com/azdurable/azdurable/provider"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Page sizes of queries: a request that names none gets defaultPageSize,
// one that names more than maxPageSize gets maxPageSize (one Table
// service page).
const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// maxBatch is the most instance ids one request may name (the protocol's
// limit).
const maxBatch = 500

// historyChunkBytes bounds a HistoryChunk; a larger event goes alone.
const historyChunkBytes = 1 << 20

func pageSize(n int32) int {
	switch {
	case n <= 0:
		return defaultPageSize
	case n > maxPageSize:
		return maxPageSize
	}
	return int(n)
}

// QueryInstances lists orchestration instances (durable entities are left
// out) page by page. A query for other task hubs only finds nothing.
// Failure details of failed instances are derived from their Output, and
// only when payloads are fetched; GetInstance reads the exact ones.
func (s *Server) QueryInstances(ctx context.Context, req *pb.QueryInstancesRequest) (*pb.QueryInstancesResponse, error) {
	q := req.GetQuery()
	if hubs := q.GetTaskHubNames(); len(hubs) > 0 && !s.servesAny(hubs) {
		return &pb.QueryInstancesResponse{}, nil
	}
	statuses, err := statusesOf("query.runtimeStatus", q.GetRuntimeStatus())
	if err != nil {
		return nil, err
	}
	from, err := timeOf("query.createdTimeFrom", q.GetCreatedTimeFrom())
	if err != nil {
		return nil, err
	}
	to, err := timeOf("query.createdTimeTo", q.GetCreatedTimeTo())
	if err != nil {
		return nil, err
	}
	page, err := s.c.QueryPage(ctx, client.Query{Statuses: statuses, CreatedFrom: from, CreatedTo: to,
		InstanceIDPrefix: q.GetInstanceIdPrefix().GetValue(), PageSize: pageSize(q.GetMaxInstanceCount()),
		FetchPayloads: q.GetFetchInputsAndOutputs(), ExcludeEntities: true}, q.GetContinuationToken().GetValue())
	if err != nil {
		return nil, grpcError(err)
	}
	out := &pb.QueryInstancesResponse{ContinuationToken: textIfSet(page.ContinuationToken)}
	for _, st := range page.States {
		var failure *history.FailureDetails
		if st.Status == client.Failed {
			failure = st.Failure
		}
		out.OrchestrationState = append(out.OrchestrationState, stateProto(st, failure))
	}
	return out, nil
}

func (s *Server) servesAny(hubs []*wrapperspb.StringValue) bool {
	for _, h := range hubs {
		if strings.EqualFold(strings.TrimSpace(h.GetValue()), s.opts.TaskHub) {
			return true
		}
	}
	return false
}

// ListInstanceIds lists the ids of orchestration instances by status and
// completion time (both bounds inclusive; a bound leaves out instances
// that have not completed). lastInstanceKey is the continuation of the
// previous page; a page may hold fewer ids than asked, even none, before
// the last.
func (s *Server) ListInstanceIds(ctx context.Context, req *pb.ListInstanceIdsRequest) (*pb.ListInstanceIdsResponse, error) {
	statuses, err := statusesOf("runtimeStatus", req.GetRuntimeStatus())
	if err != nil {
		return nil, err
	}
	from, err := timeOf("completedTimeFrom", req.GetCompletedTimeFrom())
	if err != nil {
		return nil, err
	}
	to, err := timeOf("completedTimeTo", req.GetCompletedTimeTo())
	if err != nil {
		return nil, err
	}
	page, err := s.c.QueryPage(ctx, client.Query{Statuses: statuses, PageSize: pageSize(req.GetPageSize()),
		ExcludeEntities: true}, req.GetLastInstanceKey().GetValue())
	if err != nil {
		return nil, grpcError(err)
	}
	out := &pb.ListInstanceIdsResponse{InstanceIds: []string{}, LastInstanceKey: textIfSet(page.ContinuationToken)}
	for _, st := range page.States {
		if !from.IsZero() || !to.IsZero() {
			done := st.CompletedAt
			if done.IsZero() || !from.IsZero() && done.Before(from) || !to.IsZero() && done.After(to) {
				continue
			}
		}
		out.InstanceIds = append(out.InstanceIds, st.InstanceID)
	}
	return out, nil
}

// PurgeInstances purges one instance, the instances a filter selects, or a
// batch of ids, each with its finished sub-orchestrations when recursive
// is set. Only finished instances are purged: an unfinished one named by
// id counts as not purged (0), as the SDKs document, and a filter without
// statuses means every finished status. A filter's timeout bounds the
// purge; isComplete is false when it stopped early.
func (s *Server) PurgeInstances(ctx context.Context, req *pb.PurgeInstancesRequest) (*pb.PurgeInstancesResponse, error) {
	var res provider.PurgeResult
	var err error
	switch r := req.GetRequest().(type) {
	case *pb.PurgeInstancesRequest_InstanceId:
		if err := provider.ValidateInstanceID(r.InstanceId); err != nil {
			return nil, grpcError(err)
		}
		res, err = s.purgeOne(ctx, r.InstanceId, req.GetRecursive())
	case *pb.PurgeInstancesRequest_InstanceBatch:
		ids := r.InstanceBatch.GetInstanceIds()
		if len(ids) > maxBatch {
			return nil, statusf(codes.InvalidArgument, "instanceBatch names %d instances; at most %d are allowed", len(ids), maxBatch)
		}
		for _, id := range ids {
			if err := provider.ValidateInstanceID(id); err != nil {
				return nil, grpcError(err)
			}
		}
		res.Complete = true
		for _, id := range ids {
			one, err := s.purgeOne(ctx, id, req.GetRecursive())
			res.InstancesDeleted += one.InstancesDeleted
			if err != nil {
				return nil, grpcError(err)
			}
		}
	case *pb.PurgeInstancesRequest_PurgeInstanceFilter:
		res, err = s.purgeWhere(ctx, r.PurgeInstanceFilter, req.GetRecursive())
	default:
		return nil, statusf(codes.InvalidArgument, "the purge names no instance id, filter or batch")
	}
	if err != nil {
		return nil, grpcError(err)
	}
	return &pb.PurgeInstancesResponse{DeletedInstanceCount: int32(res.InstancesDeleted), IsComplete: wrapperspb.Bool(res.Complete)}, nil
}

// purgeOne purges one instance; an unfinished one is not purged and is no
// error.
func (s *Server) purgeOne(ctx context.Context, id string, recursive bool) (provider.PurgeResult, error) {
	purge := s.c.Purge
	if recursive {
		purge = s.c.PurgeRecursive
	}
	res, err := purge(ctx, id)
	if errors.Is(err, client.ErrNotTerminal) {
		return provider.PurgeResult{Complete: true}, nil
	}
	return res, err
}

func (s *Server) purgeWhere(ctx context.Context, f *pb.PurgeInstanceFilter, recursive bool) (provider.PurgeResult, error) {
	from, err := timeOf("purgeInstanceFilter.createdTimeFrom", f.GetCreatedTimeFrom())
	if err != nil {
		return provider.PurgeResult{}, err
	}
	to, err := timeOf("purgeInstanceFilter.createdTimeTo", f.GetCreatedTimeTo())
	if err != nil {
		return provider.PurgeResult{}, err
	}
	statuses, err := statusesOf("purgeInstanceFilter.runtimeStatus", f.GetRuntimeStatus())
	if err != nil {
		return provider.PurgeResult{}, err
	}
	filter := client.PurgeFilter{CreatedFrom: from, CreatedTo: to, Statuses: statuses, AllStatuses: len(statuses) == 0}
	pctx := ctx
	if d := f.GetTimeout(); d != nil {
		if err := d.CheckValid(); err != nil || d.AsDuration() <= 0 {
			return provider.PurgeResult{}, statusf(codes.InvalidArgument, "purgeInstanceFilter.timeout must be a positive duration")
		}
		var cancel context.CancelFunc
		pctx, cancel = context.WithTimeout(ctx, d.AsDuration())
		defer cancel()
	}
	purge := s.c.PurgeWhere
	if recursive {
		purge = s.c.PurgeWhereRecursive
	}
	res, err := purge(pctx, filter)
	if err != nil && ctx.Err() == nil && pctx.Err() != nil {
		// The filter's own timeout ended the purge: report what it did.
		res.Complete = false
		return res, nil
	}
	return res, err
}

// StreamInstanceHistory sends the events of one execution (the current one
// when executionId is unset) in chunks; NotFound for an unknown instance
// or execution.
func (s *Server) StreamInstanceHistory(req *pb.StreamInstanceHistoryRequest, stream grpc.ServerStreamingServer[pb.HistoryChunk]) error {
	ctx := stream.Context()
	if err := provider.ValidateInstanceID(req.GetInstanceId()); err != nil {
		return grpcError(err)
	}
	wctx, cancel := s.waitContext(ctx)
	defer cancel()
	events, err := s.c.History(wctx, req.GetInstanceId(), req.GetExecutionId().GetValue())
	if errors.Is(err, client.ErrNotFound) {
		return statusf(codes.NotFound, "no orchestration instance has the id %q", req.GetInstanceId())
	}
	if err != nil {
		return s.stopped(ctx, grpcError(err))
	}
	if exec := req.GetExecutionId().GetValue(); exec != "" && len(events) == 0 {
		// An execution has at least its ExecutionStarted.
		return statusf(codes.NotFound, "orchestration instance %q has no execution %q", req.GetInstanceId(), exec)
	}
	chunk := &pb.HistoryChunk{}
	size := 0
	for _, ev := range events {
		pe, err := eventProto(ev)
		if err != nil {
			return grpcError(err)
		}
		n := proto.Size(pe)
		if len(chunk.Events) > 0 && size+n > historyChunkBytes {
			if err := stream.Send(chunk); err != nil {
				return err
			}
			chunk, size = &pb.HistoryChunk{}, 0
		}
		chunk.Events = append(chunk.Events, pe)
		size += n
	}
	if len(chunk.Events) > 0 {
		return stream.Send(chunk)
	}
	return nil
}

// CreateTaskHub creates the task hub's resources if they are missing.
// Recreating an existing hub (which deletes everything in it) is left to
// `azdurable hub delete` and `hub create`.
func (s *Server) CreateTaskHub(ctx context.Context, req *pb.CreateTaskHubRequest) (*pb.CreateTaskHubResponse, error) {
	if req.GetRecreateIfExists() {
		return nil, statusf(codes.Unimplemented, "azdurable sidecar does not recreate task hubs (that deletes every instance of %s): use `azdurable hub delete` and `azdurable hub create`", s.opts.TaskHub)
	}
	if err := s.be.CreateTaskHub(ctx); err != nil {
		return nil, grpcError(err)
	}
	return &pb.CreateTaskHubResponse{}, nil
}
