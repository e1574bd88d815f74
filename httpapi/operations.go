package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/internal/netjson"
)

// errAnswered tells startAndRespond that its start function has answered
// the request itself.
var errAnswered = errors.New("httpapi: answered")

// nonRunningStates are the statuses in which an existing instance blocks
// a start with the same id (the extension's default, NonRunningStates):
// the client's rule for a restart in place.
var nonRunningStates = client.RestartDedupeStatuses

// stateForOperation reads the instance for an operation route and answers
// 404 (unknown) or 410 (finished) itself; ok is false when it did.
func (h *Handler) stateForOperation(req *request, op string) (st *client.State, ok bool) {
	id := req.segs[1]
	st, err := h.c.GetState(req.r.Context(), id, client.WithInputsAndOutputs(false))
	switch {
	case errors.Is(err, client.ErrNotFound):
		writeEmpty(req.w, http.StatusNotFound)
		return nil, false
	case err != nil:
		h.internalError(req, op, id, err)
		return nil, false
	case st.Status.IsTerminal():
		writeEmpty(req.w, http.StatusGone)
		return nil, false
	}
	return st, true
}

// readBody reads the request body; ok is false when it answered already.
func readBody(req *request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(req.w, req.r.Body, maxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeEmpty(req.w, http.StatusRequestEntityTooLarge)
		} else {
			writeLongError(req.w, http.StatusBadRequest, msgInvalidJSON, excJSONReader, err)
		}
		return nil, false
	}
	return body, true
}

// raise answers POST instances/{id}/raiseEvent/{event} (spec §6.1).
func (h *Handler) raise(req *request) {
	id, name := req.segs[1], req.segs[3]
	if _, ok := h.stateForOperation(req, "raise"); !ok {
		return
	}
	mt, _, err := mime.ParseMediaType(req.r.Header.Get("Content-Type"))
	if err != nil || !strings.EqualFold(mt, "application/json") {
		writeShortError(req.w, http.StatusBadRequest, msgOnlyJSON)
		return
	}
	body, ok := readBody(req)
	if !ok {
		return
	}
	if len(bytes.TrimSpace(body)) == 0 {
		writeLongError(req.w, http.StatusBadRequest, msgInvalidJSON, excJSONReader, errors.New("the request body is empty"))
		return
	}
	if !json.Valid(body) {
		writeLongError(req.w, http.StatusBadRequest, msgInvalidJSON, excJSONReader, errors.New("the request body is not JSON"))
		return
	}
	// The extension parses the data and stores it re-serialized.
	data, err := reemitJSON(body)
	if err != nil {
		writeLongError(req.w, http.StatusBadRequest, msgInvalidJSON, excJSONReader, err)
		return
	}
	if err := h.c.RaiseEvent(req.r.Context(), id, name, client.RawJSON(data)); err != nil {
		h.internalError(req, "raise", id, err)
		return
	}
	writeEmpty(req.w, http.StatusAccepted)
}

// reason returns the reason parameter and the option that sends none
// when it is absent: the extension stores null then, and "" for an empty
// reason=.
func reason(q query) (string, []client.OperationOption) {
	if v, ok := q.get("reason"); ok {
		return v, nil
	}
	return "", []client.OperationOption{client.WithoutReason()}
}

// terminate answers POST instances/{id}/terminate (spec §6.2).
func (h *Handler) terminate(req *request) {
	id := req.segs[1]
	if _, ok := h.stateForOperation(req, "terminate"); !ok {
		return
	}
	text, opts := reason(req.q)
	if err := h.c.Terminate(req.r.Context(), id, text, opts...); err != nil {
		h.internalError(req, "terminate", id, err)
		return
	}
	writeEmpty(req.w, http.StatusAccepted)
}

// suspend answers POST instances/{id}/suspend (spec §6.3).
func (h *Handler) suspend(req *request) {
	id := req.segs[1]
	st, ok := h.stateForOperation(req, "suspend")
	if !ok {
		return
	}
	if st.Status == client.Suspended {
		writeLongError(req.w, http.StatusInternalServerError, msgInternal, excInvalidOp,
			fmt.Errorf("cannot suspend orchestration instance %q: it is already suspended", id))
		return
	}
	text, opts := reason(req.q)
	if err := h.c.Suspend(req.r.Context(), id, text, opts...); err != nil {
		h.internalError(req, "suspend", id, err)
		return
	}
	writeEmpty(req.w, http.StatusAccepted)
}

// resume answers POST instances/{id}/resume (spec §6.4).
func (h *Handler) resume(req *request) {
	id := req.segs[1]
	st, ok := h.stateForOperation(req, "resume")
	if !ok {
		return
	}
	if st.Status != client.Suspended {
		writeLongError(req.w, http.StatusInternalServerError, msgInternal, excInvalidOp,
			fmt.Errorf("cannot resume orchestration instance %q: it is %s, not suspended", id, st.Status))
		return
	}
	text, opts := reason(req.q)
	if err := h.c.Resume(req.r.Context(), id, text, opts...); err != nil {
		h.internalError(req, "resume", id, err)
		return
	}
	writeEmpty(req.w, http.StatusAccepted)
}

// restart answers POST instances/{id}/restart (spec §6.6).
func (h *Handler) restart(req *request) {
	id := req.segs[1]
	wait, ok := h.waitOptions(req)
	if !ok {
		return
	}
	var opts []client.RestartOption
	if req.q.boolean("restartWithNewInstanceId", true) {
		opts = append(opts, client.WithNewInstanceID(""))
	}
	h.startAndRespond(req, func(ctx context.Context) (string, error) {
		newID, err := h.c.Restart(ctx, id, opts...)
		if errors.Is(err, client.ErrNotFound) || unknownID(err) {
			writeLongError(req.w, http.StatusBadRequest, "InstanceId does not match a valid orchestration instance.", excArgument, nil)
			return "", errAnswered
		}
		return newID, err
	}, wait, true)
}

// start answers POST orchestrators/{name}[/{id}] (spec §3).
func (h *Handler) start(req *request) {
	name, id := req.segs[1], ""
	if len(req.segs) == 3 {
		id = req.segs[2]
	}
	var opts []client.StartOption
	if h.opts.Orchestrators != nil {
		registered, version, ok := h.opts.Orchestrators(name)
		if !ok {
			writeLongError(req.w, http.StatusBadRequest, msgBadArguments, excArgument,
				fmt.Errorf("the orchestrator function %q does not exist", name))
			return
		}
		name = registered
		opts = append(opts, client.WithVersion(version))
	}
	if id != "" {
		if err := validateInstanceID(id); err != nil {
			writeLongError(req.w, http.StatusBadRequest, msgBadArguments, excArgument, err)
			return
		}
		opts = append(opts, client.WithInstanceID(id))
	}
	opts = append(opts, traceOption(req.r)...)
	wait, ok := h.waitOptions(req)
	if !ok {
		return
	}
	body, ok := readBody(req)
	if !ok {
		return
	}
	// The extension keeps a start body's text as it came: spaces and
	// number spellings included.
	var input any
	if len(body) > 0 {
		if !json.Valid(body) {
			writeLongError(req.w, http.StatusBadRequest, msgInvalidJSON, excJSONReader, errors.New("the request body is not JSON"))
			return
		}
		input = client.RawJSON(body)
	}
	opts = append(opts, client.WithDedupeStatuses(nonRunningStates...))
	h.startAndRespond(req, func(ctx context.Context) (string, error) {
		return h.c.ScheduleNew(ctx, name, input, opts...)
	}, wait, false)
}

// validateInstanceID applies the extension's rules for ids chosen by the
// caller.
func validateInstanceID(id string) error {
	switch {
	case len(id) > 256:
		return errors.New("instance ids must not be longer than 256 characters")
	case strings.HasPrefix(id, "@"):
		return errors.New("instance ids must not start with '@'")
	case strings.ContainsAny(id, `/\?#`):
		return errors.New(`instance ids must not contain '/', '\', '?' or '#'`)
	case strings.IndexFunc(id, unicode.IsControl) >= 0:
		return errors.New("instance ids must not contain control characters")
	}
	return nil
}

// Bounds of the start and restart routes' wait for completion: a
// pollingInterval under MinPollingInterval is raised to it, one over
// MaxPollingInterval lowered to it, and a timeout over MaxWaitTimeout
// lowered to it. The extension takes them as given, so that
// pollingInterval=0 polls storage as fast as it answers, for up to a
// timeout of any length.
const (
	MinPollingInterval = time.Second
	MaxPollingInterval = time.Minute
	MaxWaitTimeout     = 5 * time.Minute
)

// DefaultMaxWaiting is how many start or restart requests may wait for
// completion at once (Options.MaxWaiting).
const DefaultMaxWaiting = 64

// waitSpec is the wait-for-completion mode of the start and restart
// routes (timeout and pollingInterval both given).
type waitSpec struct {
	timeout, interval time.Duration
}

// waitOptions reads timeout and pollingInterval. As in the extension, an
// interval over the timeout is refused (400); the values are then brought
// within the bounds above.
func (h *Handler) waitOptions(req *request) (*waitSpec, bool) {
	timeout, okT := req.q.seconds("timeout")
	interval, okI := req.q.seconds("pollingInterval")
	if !okT || !okI {
		return nil, true
	}
	if interval > timeout {
		writeLongError(req.w, http.StatusBadRequest, msgBadArguments, excArgument,
			fmt.Errorf("pollingInterval (%v) must not be greater than timeout (%v)", interval, timeout))
		return nil, false
	}
	return &waitSpec{timeout: min(timeout, MaxWaitTimeout), interval: min(max(interval, MinPollingInterval), MaxPollingInterval)}, true
}

// conflictMessage is the extension's text for a start whose id is taken.
func conflictMessage(err error) string {
	status := client.Running
	var se *client.StatusError
	if errors.As(err, &se) {
		status = se.Status
	}
	return fmt.Sprintf("An Orchestration instance with the status %s already exists.", status)
}

// startAndRespond starts the orchestration and answers with the
// check-status response, or waits first (spec §2.4). A taken id answers
// 409 (restart names the route's own message).
func (h *Handler) startAndRespond(req *request, start func(context.Context) (string, error), wait *waitSpec, restart bool) {
	ctx := req.r.Context()
	sctx, cancel := Detached(ctx)
	newID, err := start(sctx)
	cancel()
	if errors.Is(err, errAnswered) {
		return
	}
	if errors.Is(err, client.ErrInstanceExists) {
		if restart {
			writeLongError(req.w, http.StatusConflict, "A non-terminal instance with this instance ID already exists.",
				excAlreadyExists, errors.New(conflictMessage(err)))
		} else {
			writeShortError(req.w, http.StatusConflict, conflictMessage(err))
		}
		return
	}
	if err != nil {
		h.internalError(req, "start", "", err)
		return
	}
	hub, conn := h.hubAndConnection(req.q)
	links := h.links(req.r, newID, hub, conn, false)
	if wait == nil {
		h.writeCheckStatus(req.w, links)
		return
	}
	// Waiting requests are bounded; past the bound the answer is the one
	// a wait that timed out gives.
	select {
	case h.waiting <- struct{}{}:
		defer func() { <-h.waiting }()
	default:
		h.writeCheckStatus(req.w, links)
		return
	}
	wctx, cancel := context.WithTimeout(ctx, wait.timeout)
	defer cancel()
	// Poll the status row alone; the payloads are read once, at the end.
	st, err := h.c.WaitForCompletion(wctx, newID, client.PollInterval(wait.interval, wait.interval), client.WithInputsAndOutputs(false))
	if err == nil {
		st, err = h.c.GetState(ctx, newID)
	}
	switch {
	case err != nil && wctx.Err() != nil && ctx.Err() == nil:
		h.writeCheckStatus(req.w, links)
	case err != nil:
		h.internalError(req, "wait", newID, err)
	case st.Status == client.Completed:
		w := netjson.NewWriter(nil)
		writeJSONText(w, st.Output)
		writeJSONBody(req.w, http.StatusOK, w.Bytes())
	default:
		writeJSONBody(req.w, http.StatusOK, MarshalStatus(st, nil))
	}
}
