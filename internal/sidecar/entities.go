package sidecar

import (
	"context"
	"errors"
	"strings"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/internal/entity"
	"github.com/azdurable/azdurable/internal/sidecar/pb"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
)

// The entity client calls map onto package client's entity functions, so
// that what they write and read is the Durable Functions extension's
// format (docs/entities.md): a signal is the extension client's "op"
// EventRaised, an entity is read from its instance's scheduler state.

// entityIDOf reads an entity instance id ("@name@key") of a request.
func entityIDOf(field, instanceID string) (durable.EntityID, error) {
	id, ok := durable.ParseEntityInstanceID(instanceID)
	if !ok {
		return durable.EntityID{}, statusf(codes.InvalidArgument, "%s %q is not an entity instance id (@name@key)", field, instanceID)
	}
	id = durable.NewEntityID(id.Name, id.Key)
	if err := id.Validate(); err != nil {
		return durable.EntityID{}, statusf(codes.InvalidArgument, "%s %q: %v", field, instanceID, err)
	}
	return id, nil
}

// isGUID reports whether s is a GUID in a form the Durable Functions
// extension reads: a request message's id is a Guid there (required), so
// a message with other text as its id cannot be read by a C# entity.
func isGUID(s string) bool {
	switch len(s) {
	case 32, 36, 38: // the forms N, D and B ("urn:uuid:" is not C#'s)
	default:
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}

// SignalEntity sends a one-way operation to an entity, with the SDK's
// request id and input as sent, at scheduledTime when it is set.
func (s *Server) SignalEntity(ctx context.Context, req *pb.SignalEntityRequest) (*pb.SignalEntityResponse, error) {
	id, err := entityIDOf("instanceId", req.GetInstanceId())
	if err != nil {
		return nil, err
	}
	if req.GetName() == "" {
		return nil, statusf(codes.InvalidArgument, "no operation name")
	}
	if rid := req.GetRequestId(); rid != "" && !isGUID(rid) {
		return nil, statusf(codes.InvalidArgument, "requestId %q is not a GUID: the extension's request messages carry a GUID as their id", rid)
	}
	sig := client.EntitySignal{Entity: id, Operation: req.GetName(), RequestID: req.GetRequestId()}
	if in := payload(req.GetInput()); in != nil {
		sig.Input = client.Verbatim{Text: in}
	}
	if ts := req.GetScheduledTime(); ts != nil {
		at, err := timeOf("scheduledTime", ts)
		if err != nil {
			return nil, err
		}
		sig.At = &at
	}
	if err := s.c.SendEntitySignal(ctx, sig); err != nil {
		return nil, grpcError(err)
	}
	return &pb.SignalEntityResponse{}, nil
}

// GetEntity reads an entity: exists is false for an entity that has no
// state (never created, deleted, or only locked or queued).
func (s *Server) GetEntity(ctx context.Context, req *pb.GetEntityRequest) (*pb.GetEntityResponse, error) {
	id, err := entityIDOf("instanceId", req.GetInstanceId())
	if err != nil {
		return nil, err
	}
	m, err := s.c.GetEntity(ctx, id)
	if errors.Is(err, client.ErrNotFound) {
		return &pb.GetEntityResponse{}, nil
	}
	if err != nil {
		return nil, grpcError(err)
	}
	if !m.Exists {
		return &pb.GetEntityResponse{}, nil
	}
	return &pb.GetEntityResponse{Exists: true, Entity: entityProto(m, req.GetIncludeState())}, nil
}

func entityProto(m *client.EntityMetadata, withState bool) *pb.EntityMetadata {
	out := &pb.EntityMetadata{InstanceId: m.ID.InstanceID(), LastModifiedTime: stamp(m.LastModifiedAt),
		BacklogQueueSize: int32(min(m.QueueSize, 1<<31-1)), LockedBy: textIfSet(m.LockedBy)}
	if withState {
		out.SerializedState = text(m.State)
	}
	return out
}

// QueryEntities lists entities page by page: instanceIdStartsWith is
// "@name-prefix" or "@name@key-prefix", the last-modified range bounds the
// time of the entity's last batch, includeTransient adds entities without
// state.
func (s *Server) QueryEntities(ctx context.Context, req *pb.QueryEntitiesRequest) (*pb.QueryEntitiesResponse, error) {
	q := req.GetQuery()
	var eq client.EntityQuery
	if p := q.GetInstanceIdStartsWith(); p != nil {
		prefix := strings.TrimPrefix(p.GetValue(), "@")
		if name, key, ok := strings.Cut(prefix, "@"); ok {
			if name == "" {
				return nil, statusf(codes.InvalidArgument, "query.instanceIdStartsWith %q names no entity", p.GetValue())
			}
			eq.ExactName, eq.KeyPrefix = name, key
		} else {
			eq.NamePrefix = prefix
		}
	}
	var err error
	if eq.LastOperationFrom, err = timeOf("query.lastModifiedFrom", q.GetLastModifiedFrom()); err != nil {
		return nil, err
	}
	if eq.LastOperationTo, err = timeOf("query.lastModifiedTo", q.GetLastModifiedTo()); err != nil {
		return nil, err
	}
	eq.PageSize = pageSize(q.GetPageSize().GetValue())
	eq.FetchState, eq.IncludeDeleted = q.GetIncludeState(), q.GetIncludeTransient()
	page, err := s.c.ListEntitiesPage(ctx, eq, q.GetContinuationToken().GetValue())
	if err != nil {
		return nil, grpcError(err)
	}
	out := &pb.QueryEntitiesResponse{ContinuationToken: textIfSet(page.ContinuationToken)}
	for _, m := range page.Entities {
		out.Entities = append(out.Entities, entityProto(m, q.GetIncludeState()))
	}
	return out, nil
}

// CleanEntityStorage cleans one page of entity storage
// (client.CleanEntitiesPage, Options.CleanEntityPageSize instances): it
// removes empty entities whose last batch is older than the message
// sorter's reorder window (so that no request still on its way is taken
// for a duplicate by an entity created again) and releases locks whose
// holder is missing or has ended. The answer's continuation token, unset
// after the last page, resumes the clean (the SDKs call again with it); a
// token that no answer gave is refused with InvalidArgument before
// anything is read.
func (s *Server) CleanEntityStorage(ctx context.Context, req *pb.CleanEntityStorageRequest) (*pb.CleanEntityStorageResponse, error) {
	res, err := s.c.CleanEntitiesPage(ctx, client.CleanRequest{RemoveEmpty: req.GetRemoveEmptyEntities(),
		ReleaseOrphanedLocks: req.GetReleaseOrphanedLocks(), OlderThan: s.d.now().Add(-entity.ReorderWindow),
		PageSize: s.opts.CleanEntityPageSize, ContinuationToken: req.GetContinuationToken().GetValue()})
	if err != nil {
		return nil, grpcError(err)
	}
	return &pb.CleanEntityStorageResponse{ContinuationToken: textIfSet(res.ContinuationToken),
		EmptyEntitiesRemoved:  int32(min(res.EmptyEntitiesRemoved, 1<<31-1)),
		OrphanedLocksReleased: int32(min(res.OrphanedLocksRemoved, 1<<31-1))}, nil
}
