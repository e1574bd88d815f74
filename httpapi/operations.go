package httpapi

import (
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

// nonRunningStates are the statuses in which an existing instance blocks
// a start with the same id (the extension's default, NonRunningStates).
var nonRunningStates = []client.Status{client.Running, client.Pending, client.ContinuedAsNew, client.Suspended}

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
	data, err := compactJSON(body)
	if err != nil || len(data) == 0 {
		if err == nil {
			err = errors.New("the request body is empty")
		}
		writeLongError(req.w, http.StatusBadRequest, msgInvalidJSON, excJSONReader, err)
		return
	}
	if err := h.c.RaiseEvent(req.r.Context(), id, name, data); err != nil {
		h.internalError(req, "raise", id, err)
		return
	}
	writeEmpty(req.w, http.StatusAccepted)
}

// terminate answers POST instances/{id}/terminate (spec §6.2).
func (h *Handler) terminate(req *request) {
	id := req.segs[1]
	if _, ok := h.stateForOperation(req, "terminate"); !ok {
		return
	}
	if err := h.c.Terminate(req.r.Context(), id, req.q.str("reason")); err != nil {
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
	if err := h.c.Suspend(req.r.Context(), id, req.q.str("reason")); err != nil {
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
	if err := h.c.Resume(req.r.Context(), id, req.q.str("reason")); err != nil {
		h.internalError(req, "resume", id, err)
		return
	}
	writeEmpty(req.w, http.StatusAccepted)
}

// rewind answers POST instances/{id}/rewind as the extension does: 202
// once a Failed instance is rewound, 412 with a JSON string for any other
// status, 404 with a JSON string (its "$" included) for an unknown id.
func (h *Handler) rewind(req *request) {
	id := req.segs[1]
	err := h.c.Rewind(req.r.Context(), id, req.q.str("reason"))
	var se *client.StatusError
	switch {
	case err == nil:
		writeEmpty(req.w, http.StatusAccepted)
	case errors.Is(err, client.ErrNotFound):
		writeJSONBody(req.w, http.StatusNotFound, jsonString(fmt.Sprintf("No orchestration with instance ID \"$%s\" found.", id)))
	case errors.As(err, &se) && errors.Is(err, client.ErrNotFailed):
		writeJSONBody(req.w, http.StatusPreconditionFailed, jsonString(fmt.Sprintf(
			"This orchestration has status %s, but only orchestrations in the \"Failed\" state can be rewound.", se.Status)))
	case errors.Is(err, client.ErrRewindNotSupported):
		writeLongError(req.w, http.StatusNotImplemented, "Rewind is not supported by this backend", excNotSupported, err)
	default:
		h.internalError(req, "rewind", id, err)
	}
}

// restart answers POST instances/{id}/restart (spec §6.6).
func (h *Handler) restart(req *request) {
	id := req.segs[1]
	wait, ok := h.waitOptions(req)
	if !ok {
		return
	}
	st, err := h.c.GetState(req.r.Context(), id)
	if errors.Is(err, client.ErrNotFound) {
		writeLongError(req.w, http.StatusBadRequest, "InstanceId does not match a valid orchestration instance.", excArgument, nil)
		return
	}
	if err != nil {
		h.internalError(req, "restart", id, err)
		return
	}
	opts := []client.StartOption{client.WithVersion(st.Version), client.WithDedupeStatuses(nonRunningStates...)}
	if !req.q.boolean("restartWithNewInstanceId", true) {
		opts = append(opts, client.WithInstanceID(id))
	}
	h.startAndRespond(req, st.Name, storedInput(st.Input), opts, wait)
}

// storedInput passes an instance's stored input on unchanged.
func storedInput(in *string) any {
	if in == nil {
		return nil
	}
	if json.Valid([]byte(*in)) {
		return json.RawMessage(*in)
	}
	return *in
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
	wait, ok := h.waitOptions(req)
	if !ok {
		return
	}
	body, ok := readBody(req)
	if !ok {
		return
	}
	var input any
	if len(body) > 0 {
		data, err := compactJSON(body)
		if err != nil {
			writeLongError(req.w, http.StatusBadRequest, msgInvalidJSON, excJSONReader, err)
			return
		}
		input = data
	}
	opts = append(opts, client.WithDedupeStatuses(nonRunningStates...))
	h.startAndRespond(req, name, input, opts, wait)
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

// waitSpec is the wait-for-completion mode of the start and restart
// routes (timeout and pollingInterval both given).
type waitSpec struct {
	timeout, interval time.Duration
}

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
	return &waitSpec{timeout: timeout, interval: interval}, true
}

// startAndRespond starts the orchestration and answers with the
// check-status response, or waits first (spec §2.4).
func (h *Handler) startAndRespond(req *request, name string, input any, opts []client.StartOption, wait *waitSpec) {
	ctx := req.r.Context()
	newID, err := h.c.ScheduleNew(ctx, name, input, opts...)
	if errors.Is(err, client.ErrInstanceExists) {
		writeLongError(req.w, http.StatusInternalServerError, msgInternal, excAlreadyExists, err)
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
	wctx, cancel := context.WithTimeout(ctx, wait.timeout)
	defer cancel()
	st, err := h.c.WaitForCompletion(wctx, newID, client.PollInterval(wait.interval, wait.interval))
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
