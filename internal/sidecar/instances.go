package sidecar

import (
	"context"
	"errors"
	"maps"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/sidecar/pb"
	"github.com/azdurable/azdurable/provider"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// StartInstance starts an orchestration (client.ScheduleNew): the input is
// stored as sent, the id reuse policy becomes the dedupe statuses, and an
// id in use answers AlreadyExists.
func (s *Server) StartInstance(ctx context.Context, req *pb.CreateInstanceRequest) (*pb.CreateInstanceResponse, error) {
	var opts []client.StartOption
	if req.GetInstanceId() != "" {
		opts = append(opts, client.WithInstanceID(req.GetInstanceId()))
	}
	if v := req.GetVersion().GetValue(); v != "" {
		opts = append(opts, client.WithVersion(v))
	}
	at, err := scheduledStart(req.GetScheduledStartTimestamp())
	if err != nil {
		return nil, err
	}
	if at != nil {
		opts = append(opts, client.WithStartAt(*at))
	}
	if p := req.GetOrchestrationIdReusePolicy(); p != nil {
		dedupe, err := dedupeStatuses(p)
		if err != nil {
			return nil, err
		}
		opts = append(opts, client.WithDedupeStatuses(dedupe...))
	}
	if len(req.GetTags()) > 0 {
		opts = append(opts, client.WithTags(maps.Clone(req.GetTags())))
	}
	if tc := req.GetParentTraceContext(); tc.GetTraceParent() != "" {
		opts = append(opts, client.WithTraceContext(tc.GetTraceParent(), tc.GetTraceState().GetValue()))
	}
	id, err := s.c.ScheduleNew(ctx, req.GetName(), client.Verbatim{Text: payload(req.GetInput())}, opts...)
	var se *client.StatusError
	if errors.As(err, &se) && errors.Is(err, client.ErrInstanceExists) {
		return nil, statusf(codes.AlreadyExists, "an orchestration instance with the id %q already exists (its status is %s)", se.InstanceID, se.Status)
	}
	if err != nil {
		return nil, grpcError(err)
	}
	return &pb.CreateInstanceResponse{InstanceId: id}, nil
}

// scheduledStart reads a start time. The JavaScript SDK sends the Unix
// epoch when the caller gave none, so that instant means "now".
func scheduledStart(ts *timestamppb.Timestamp) (*time.Time, error) {
	if ts == nil || ts.GetSeconds() == 0 && ts.GetNanos() == 0 {
		return nil, nil
	}
	t, err := timeOf("scheduledStartTimestamp", ts)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// dedupeStatuses turns an id reuse policy (the statuses in which an
// existing instance may be replaced) into the statuses in which it may
// not. ContinuedAsNew, which the SDKs never name, counts as running: it is
// replaceable when Running is.
func dedupeStatuses(p *pb.OrchestrationIdReusePolicy) ([]history.OrchestrationStatus, error) {
	replaceable, err := statusesOf("orchestrationIdReusePolicy.replaceableStatus", p.GetReplaceableStatus())
	if err != nil {
		return nil, err
	}
	may := map[history.OrchestrationStatus]bool{}
	for _, st := range replaceable {
		may[st] = true
	}
	if may[history.StatusRunning] {
		may[history.StatusContinuedAsNew] = true
	}
	var dedupe []history.OrchestrationStatus
	for _, st := range history.Statuses() {
		if !may[st] {
			dedupe = append(dedupe, st)
		}
	}
	return dedupe, nil
}

// GetInstance reports an instance's status; an unknown id answers
// exists=false.
func (s *Server) GetInstance(ctx context.Context, req *pb.GetInstanceRequest) (*pb.GetInstanceResponse, error) {
	if err := provider.ValidateInstanceID(req.GetInstanceId()); err != nil {
		return nil, grpcError(err)
	}
	st, err := s.c.GetState(ctx, req.GetInstanceId(), client.WithInputsAndOutputs(req.GetGetInputsAndOutputs()))
	if errors.Is(err, client.ErrNotFound) {
		return &pb.GetInstanceResponse{Exists: false}, nil
	}
	if err != nil {
		return nil, grpcError(err)
	}
	return s.instanceResponse(ctx, st), nil
}

// WaitForInstanceStart answers once the instance has left Pending; it
// waits for an unknown id to appear.
func (s *Server) WaitForInstanceStart(ctx context.Context, req *pb.GetInstanceRequest) (*pb.GetInstanceResponse, error) {
	return s.wait(ctx, req, s.c.WaitForStart)
}

// WaitForInstanceCompletion answers once the instance has a final status
// (Completed, Failed, Canceled or Terminated); it waits for an unknown id
// to appear.
func (s *Server) WaitForInstanceCompletion(ctx context.Context, req *pb.GetInstanceRequest) (*pb.GetInstanceResponse, error) {
	return s.wait(ctx, req, s.c.WaitForCompletion)
}

func (s *Server) wait(ctx context.Context, req *pb.GetInstanceRequest,
	wait func(context.Context, string, ...client.StateOption) (*client.State, error)) (*pb.GetInstanceResponse, error) {
	if err := provider.ValidateInstanceID(req.GetInstanceId()); err != nil {
		return nil, grpcError(err)
	}
	wctx, cancel := s.waitContext(ctx)
	defer cancel()
	st, err := wait(wctx, req.GetInstanceId(), client.WithInputsAndOutputs(req.GetGetInputsAndOutputs()),
		client.PollInterval(s.opts.PollMin, s.opts.PollMax))
	if err != nil {
		return nil, s.stopped(ctx, grpcError(err))
	}
	return s.instanceResponse(ctx, st), nil
}

func (s *Server) instanceResponse(ctx context.Context, st *client.State) *pb.GetInstanceResponse {
	var failure *history.FailureDetails
	if st.Status == client.Failed {
		failure = s.failureOf(ctx, st)
	}
	return &pb.GetInstanceResponse{Exists: true, OrchestrationState: stateProto(st, failure)}
}

// failureOf returns a failed instance's failure details: those of the
// ExecutionCompleted event in its history, or, for a completion that has
// none (a C# worker's), its result as the message. When the history cannot
// be read it falls back on the status's Output (when it was fetched).
func (s *Server) failureOf(ctx context.Context, st *client.State) *history.FailureDetails {
	events, err := s.be.History(ctx, st.InstanceID, st.ExecutionID)
	if err != nil {
		s.log.Warn("sidecar: reading the history of a failed instance for its failure details", "instance", st.InstanceID, "err", err)
		return st.Failure
	}
	for i := len(events) - 1; i >= 0; i-- {
		done, ok := events[i].(*history.ExecutionCompletedEvent)
		if !ok {
			continue
		}
		if done.FailureDetails != nil {
			return done.FailureDetails
		}
		if done.Result != nil {
			return &history.FailureDetails{ErrorMessage: *done.Result}
		}
		break
	}
	return st.Failure
}

// RaiseEvent sends an external event to a running, pending or suspended
// instance; the payload is stored as sent.
func (s *Server) RaiseEvent(ctx context.Context, req *pb.RaiseEventRequest) (*pb.RaiseEventResponse, error) {
	if err := s.unfinished(ctx, req.GetInstanceId(), "raise an event for"); err != nil {
		return nil, err
	}
	if err := s.c.RaiseEvent(ctx, req.GetInstanceId(), req.GetName(), client.Verbatim{Text: payload(req.GetInput())}); err != nil {
		return nil, grpcError(err)
	}
	return &pb.RaiseEventResponse{}, nil
}

// TerminateInstance terminates an instance (and with recursive its running
// sub-orchestrations); output becomes its output, as sent. An instance
// that has finished already is left as it is, without error.
func (s *Server) TerminateInstance(ctx context.Context, req *pb.TerminateRequest) (*pb.TerminateResponse, error) {
	st, err := s.stateFor(ctx, req.GetInstanceId())
	if err != nil {
		return nil, err
	}
	if st.Status.IsTerminal() {
		return &pb.TerminateResponse{}, nil
	}
	opts := reasonOpts(req.GetOutput() != nil)
	if req.GetRecursive() {
		opts = append(opts, client.Recursive())
	}
	if err := s.c.Terminate(ctx, req.GetInstanceId(), req.GetOutput().GetValue(), opts...); err != nil {
		return nil, grpcError(err)
	}
	return &pb.TerminateResponse{}, nil
}

// SuspendInstance suspends a running instance.
func (s *Server) SuspendInstance(ctx context.Context, req *pb.SuspendRequest) (*pb.SuspendResponse, error) {
	if err := s.unfinished(ctx, req.GetInstanceId(), "suspend"); err != nil {
		return nil, err
	}
	err := s.c.Suspend(ctx, req.GetInstanceId(), req.GetReason().GetValue(), reasonOpts(req.GetReason() != nil)...)
	if err != nil {
		return nil, grpcError(err)
	}
	return &pb.SuspendResponse{}, nil
}

// ResumeInstance resumes a suspended instance.
func (s *Server) ResumeInstance(ctx context.Context, req *pb.ResumeRequest) (*pb.ResumeResponse, error) {
	if err := s.unfinished(ctx, req.GetInstanceId(), "resume"); err != nil {
		return nil, err
	}
	err := s.c.Resume(ctx, req.GetInstanceId(), req.GetReason().GetValue(), reasonOpts(req.GetReason() != nil)...)
	if err != nil {
		return nil, grpcError(err)
	}
	return &pb.ResumeResponse{}, nil
}

// reasonOpts sends no reason at all (null, as C# stores a missing one)
// when the request carries none.
func reasonOpts(given bool) []client.OperationOption {
	if given {
		return nil
	}
	return []client.OperationOption{client.WithoutReason()}
}

// stateFor reads the status of the instance an operation names: NotFound
// for an unknown id.
func (s *Server) stateFor(ctx context.Context, id string) (*client.State, error) {
	if err := provider.ValidateInstanceID(id); err != nil {
		return nil, grpcError(err)
	}
	st, err := s.c.GetState(ctx, id, client.WithInputsAndOutputs(false))
	if errors.Is(err, client.ErrNotFound) {
		return nil, statusf(codes.NotFound, "no orchestration instance has the id %q", id)
	}
	if err != nil {
		return nil, grpcError(err)
	}
	return st, nil
}

// unfinished refuses an operation on an unknown instance (NotFound), on
// one that has finished, or on one whose start is scheduled later
// (FailedPrecondition): no one would read its message. The hub drops, as
// C#'s does, a message for an instance that has no history yet, and a
// scheduled start stays invisible on its queue until its time.
func (s *Server) unfinished(ctx context.Context, id, what string) error {
	st, err := s.stateFor(ctx, id)
	if err != nil {
		return err
	}
	if st.Status.IsTerminal() {
		return statusf(codes.FailedPrecondition, "cannot %s orchestration instance %q: it has finished (%s)", what, id, st.Status)
	}
	if at := st.ScheduledStartAt; st.Status == client.Pending && at != nil && s.d.now().Before(*at) {
		return statusf(codes.FailedPrecondition, "cannot %s orchestration instance %q yet: its start is scheduled for %s, and a message sent before it starts is dropped; send it after that time (a terminate works at any time)",
			what, id, at.UTC().Format(time.RFC3339))
	}
	return nil
}

// RewindInstance rewinds a failed instance (client.Rewind): NotFound for
// an unknown id, FailedPrecondition for one that has not failed.
func (s *Server) RewindInstance(ctx context.Context, req *pb.RewindInstanceRequest) (*pb.RewindInstanceResponse, error) {
	if err := s.c.Rewind(ctx, req.GetInstanceId(), req.GetReason().GetValue()); err != nil {
		return nil, grpcError(err)
	}
	return &pb.RewindInstanceResponse{}, nil
}

// RestartInstance starts an instance's orchestration again with its
// input (client.Restart), in place (it must have finished:
// FailedPrecondition otherwise) or under a new id.
func (s *Server) RestartInstance(ctx context.Context, req *pb.RestartInstanceRequest) (*pb.RestartInstanceResponse, error) {
	var opts []client.RestartOption
	if req.GetRestartWithNewInstanceId() {
		opts = append(opts, client.WithNewInstanceID(""))
	}
	id, err := s.c.Restart(ctx, req.GetInstanceId(), opts...)
	var se *client.StatusError
	if errors.As(err, &se) && errors.Is(err, client.ErrInstanceExists) {
		return nil, statusf(codes.FailedPrecondition, "cannot restart orchestration instance %q in place: it has not finished (%s); restart it with a new instance id, or terminate it first", se.InstanceID, se.Status)
	}
	if err != nil {
		return nil, grpcError(err)
	}
	return &pb.RestartInstanceResponse{InstanceId: id}, nil
}
