package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/internal/netjson"
)

// continuationHeader is written with .NET's lower-case spelling; Go would
// canonicalise it through Header.Set.
const continuationHeader = "x-ms-continuation-token"

// defaultTop is the list route's page size when top is absent.
const defaultTop = 100

// status answers GET instances/{id} (spec §4).
func (h *Handler) status(req *request) {
	id := req.segs[1]
	ctx := req.r.Context()
	st, err := h.c.GetState(ctx, id)
	if errors.Is(err, client.ErrNotFound) {
		writeEmpty(req.w, http.StatusNotFound)
		return
	}
	if err != nil {
		h.internalError(req, "status", id, err)
		return
	}
	o := &StatusOptions{HideInput: !req.q.boolean("showInput", true),
		ShowHistoryOutput: req.q.boolean("showHistoryOutput", false)}
	if req.q.boolean("showHistory", false) && st.Status != client.Pending {
		events, err := h.c.History(ctx, id, "")
		if err != nil && !errors.Is(err, client.ErrNotFound) {
			h.internalError(req, "history", id, err)
			return
		}
		if len(events) > 0 {
			o.History = events
		}
	}
	body := MarshalStatus(st, o)
	switch st.Status {
	case client.Running, client.Pending, client.ContinuedAsNew, client.Suspended:
		req.w.Header().Set("Location", h.requestURL(req.r))
		req.w.Header().Set("Retry-After", "5")
		writeJSONBody(req.w, http.StatusAccepted, body)
	case client.Completed, client.Terminated, client.Canceled:
		writeJSONBody(req.w, http.StatusOK, body)
	case client.Failed:
		code := http.StatusOK
		if req.q.boolean("returnInternalServerErrorOnFailure", false) {
			code = http.StatusInternalServerError
		}
		writeJSONBody(req.w, code, body)
	default:
		writeJSONBody(req.w, http.StatusInternalServerError, body)
	}
}

// requestURL is the request's URL as received, made absolute with the
// origin when the client sent only a path.
func (h *Handler) requestURL(r *http.Request) string {
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	if !strings.HasPrefix(uri, "/") {
		return uri // absolute form, as received
	}
	return h.origin(r) + uri
}

// list answers GET instances (spec §5): one page, and the token of the
// next in x-ms-continuation-token, present but empty on the last page.
func (h *Handler) list(req *request) {
	q := req.q
	cq := client.Query{Statuses: q.statuses("runtimeStatus"), InstanceIDPrefix: q.str("instanceIdPrefix"),
		PageSize: defaultTop, FetchPayloads: true}
	cq.CreatedFrom, _ = q.time("createdTimeFrom")
	cq.CreatedTo, _ = q.time("createdTimeTo")
	if top, ok := q.integer("top"); ok && top > 0 {
		cq.PageSize = top
	}
	page, err := h.c.QueryPage(req.r.Context(), cq, req.r.Header.Get(continuationHeader))
	if err != nil {
		h.internalError(req, "list", "", err)
		return
	}
	o := &StatusOptions{HideInput: !q.boolean("showInput", true)}
	w := netjson.NewWriter(nil)
	w.BeginArray()
	for _, st := range page.States {
		appendStatus(w, st, o)
	}
	w.EndArray()
	req.w.Header()[continuationHeader] = []string{page.ContinuationToken}
	writeJSONBody(req.w, http.StatusOK, w.Bytes())
}

// purge answers DELETE instances/{id} (spec §6.7): 404 for an unknown
// id, 412 with a JSON string for an instance that has not finished (as the
// extension answers; the client refuses it), else 200 with the count.
func (h *Handler) purge(req *request) {
	id := req.segs[1]
	ctx, cancel := Detached(req.r.Context())
	defer cancel()
	res, err := h.c.Purge(ctx, id)
	if unknownID(err) {
		writeEmpty(req.w, http.StatusNotFound)
		return
	}
	var se *client.StatusError
	if errors.As(err, &se) && errors.Is(err, client.ErrNotTerminal) {
		writeJSONBody(req.w, http.StatusPreconditionFailed, jsonString(fmt.Sprintf(
			"Only orchestrations in a terminal state can be purged, but the orchestration with instance ID %s has status %s", id, se.Status)))
		return
	}
	if err != nil {
		h.internalError(req, "purge", id, err)
		return
	}
	writeDeleted(req.w, res.InstancesDeleted)
}

// purgeWhere answers DELETE instances (spec §6.8). As in C#, only the
// terminal statuses of runtimeStatus count, and none means every status,
// but azdurable purges finished instances only: a running, pending or
// suspended instance is never purged, whatever the filter says. A filter
// that names finished statuses only answers as the extension does.
func (h *Handler) purgeWhere(req *request) {
	from, ok := req.q.time("createdTimeFrom")
	if !ok {
		writeJSONBody(req.w, http.StatusBadRequest, jsonString("Please provide value for 'createdTimeFrom' parameter."))
		return
	}
	if msg := purgeFilterTypo(req.q); msg != "" {
		writeJSONBody(req.w, http.StatusBadRequest, jsonString(msg))
		return
	}
	to, ok := req.q.time("createdTimeTo")
	if !ok {
		to = time.Now().UTC()
	}
	f := client.PurgeFilter{CreatedFrom: from, CreatedTo: to}
	for _, s := range req.q.statuses("runtimeStatus") {
		if s.IsTerminal() {
			f.Statuses = append(f.Statuses, s)
		}
	}
	f.AllStatuses = len(f.Statuses) == 0
	ctx, cancel := Detached(req.r.Context())
	defer cancel()
	res, err := h.c.PurgeWhere(ctx, f)
	if err != nil {
		h.internalError(req, "purge", "", err)
		return
	}
	writeDeleted(req.w, res.InstancesDeleted)
}

// purgeFilterTypo returns why a purge by filter is refused, or "": a
// createdTimeTo that does not parse, a runtimeStatus token that names no
// status, or instanceIdPrefix, which only the list route takes. The
// extension reads the first as "now", drops the second (with no status
// left, it purges every status) and ignores the third, so that each typo
// purges more than was asked; an empty value is as if absent.
func purgeFilterTypo(q query) string {
	if v, ok := q.get("createdTimeTo"); ok && strings.TrimSpace(v) != "" {
		if _, ok := parseTime(v); !ok {
			return fmt.Sprintf("The 'createdTimeTo' parameter %q is not a date and time; nothing was purged.", v)
		}
	}
	if v, ok := q.get("runtimeStatus"); ok {
		for _, tok := range strings.Split(v, ",") {
			if tok = strings.TrimSpace(tok); tok != "" {
				if _, ok := exactStatus(tok); !ok {
					return fmt.Sprintf("The 'runtimeStatus' parameter names no status %q (statuses are spelled as Completed, Failed, Terminated); nothing was purged.", tok)
				}
			}
		}
	}
	if _, ok := q.get("instanceIdPrefix"); ok {
		return "A purge by filter does not take the 'instanceIdPrefix' parameter; nothing was purged."
	}
	return ""
}

// unknownID reports whether the client refused a request's instance id
// as one no task hub can hold (not UTF-8, too long for a table key): it
// names no instance, and the routes answer as for an unknown id, as the
// extension does, whose reads find nothing for it. The client checks ids
// before it reads or writes anything.
func unknownID(err error) bool { return errors.Is(err, client.ErrInvalid) }

func writeDeleted(w http.ResponseWriter, n int) {
	if n == 0 {
		writeEmpty(w, http.StatusNotFound)
		return
	}
	writeJSONBody(w, http.StatusOK, []byte(`{"instancesDeleted":`+strconv.Itoa(n)+`}`))
}
