package httpapi

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strings"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/internal/netjson"
)

// emptyEntityKey stands for the empty key in GET entities/{name}/{key}
// (only there: a POST signals the key "$").
const emptyEntityKey = "$"

// entities answers the entity routes as the extension does
// (testdata/durable-functions/http-entities.jsonl): GET entities,
// entities/{name} (a list) and entities/{name}/{key} (the state), POST
// entities/{name}/{key}?op= and DELETE entities/{name}/{key} (signals);
// anything else is 404.
func (h *Handler) entities(req *request) {
	s, m := req.segs, req.r.Method
	if len(s) > 3 {
		writeEmpty(req.w, http.StatusNotFound)
		return
	}
	name, key, hasKey := "", "", false
	if len(s) > 1 {
		name = s[1]
	}
	if len(s) > 2 {
		key, hasKey = s[2], s[2] != ""
	}
	switch {
	case m == http.MethodGet && hasKey:
		if key == emptyEntityKey {
			key = ""
		}
		h.entityState(req, durable.NewEntityID(name, key))
	case m == http.MethodGet:
		h.listEntities(req, name)
	case m == http.MethodPost || m == http.MethodDelete:
		h.signalEntity(req, durable.NewEntityID(name, key))
	default:
		writeEmpty(req.w, http.StatusNotFound)
	}
}

// entityState answers the entity's state (re-emitted as Newtonsoft writes
// a JToken), or 404 when it has none.
func (h *Handler) entityState(req *request, id durable.EntityID) {
	if err := id.Validate(); err != nil {
		writeShortError(req.w, http.StatusBadRequest, err.Error())
		return
	}
	m, err := h.c.GetEntity(req.r.Context(), id)
	if errors.Is(err, client.ErrNotFound) || (err == nil && (!m.Exists || m.State == nil)) {
		writeEmpty(req.w, http.StatusNotFound)
		return
	}
	if err != nil {
		h.internalError(req, "entity state", id.InstanceID(), err)
		return
	}
	body, err := reemitJSON([]byte(*m.State))
	if err != nil {
		h.internalError(req, "entity state", id.InstanceID(), err)
		return
	}
	writeJSONBody(req.w, http.StatusOK, body)
}

// listEntities answers one page of entities of a name ("" for all):
// [{"entityId":{"name","key"},"lastOperationTime","state"}], the state
// null unless fetchState=true, and the next page's token in
// x-ms-continuation-token (empty on the last page). Deleted entities are
// left out, so a page may be shorter than top.
func (h *Handler) listEntities(req *request, name string) {
	q := req.q
	eq := client.EntityQuery{ExactName: name, PageSize: defaultTop, FetchState: q.boolean("fetchState", false)}
	eq.LastOperationFrom, _ = q.time("lastOperationTimeFrom")
	eq.LastOperationTo, _ = q.time("lastOperationTimeTo")
	if top, ok := q.integer("top"); ok && top > 0 {
		eq.PageSize = top
	}
	page, err := h.c.ListEntitiesPage(req.r.Context(), eq, strings.TrimSpace(req.r.Header.Get(continuationHeader)))
	if err != nil {
		h.internalError(req, "list entities", "", err)
		return
	}
	w := netjson.NewWriter(nil)
	w.BeginArray()
	for _, e := range page.Entities {
		w.BeginObject()
		w.Key("entityId")
		w.BeginObject()
		w.Key("name")
		w.String(e.ID.Name)
		w.Key("key")
		w.String(e.ID.Key)
		w.EndObject()
		w.Key("lastOperationTime")
		w.Time(e.LastModifiedAt)
		w.Key("state")
		if e.State == nil {
			w.Null()
		} else if body, err := reemitJSON([]byte(*e.State)); err == nil {
			w.Raw(body)
		} else {
			w.String(*e.State)
		}
		w.EndObject()
	}
	w.EndArray()
	// The extension's token is the next instance id's key alone (no
	// trailing space).
	req.w.Header()[continuationHeader] = []string{strings.TrimSpace(page.ContinuationToken)}
	writeJSONBody(req.w, http.StatusOK, w.Bytes())
}

// signalEntity answers POST entities/{name}/{key}?op= (DELETE sends the
// "delete" operation): 202 once the signal is sent. An empty body sends
// no input; a JSON body (Content-Type application/json) is sent as
// Newtonsoft re-writes it, 400 when it does not parse; any other body is
// sent as a JSON string of its text.
func (h *Handler) signalEntity(req *request, id durable.EntityID) {
	if err := id.Validate(); err != nil {
		writeShortError(req.w, http.StatusBadRequest, err.Error())
		return
	}
	op := "delete"
	if req.r.Method == http.MethodPost {
		op = req.q.str("op")
	}
	body, ok := readBody(req)
	if !ok {
		return
	}
	var input any
	if len(body) > 0 {
		mediaType, _, _ := mime.ParseMediaType(req.r.Header.Get("Content-Type"))
		if strings.EqualFold(mediaType, "application/json") {
			if !json.Valid(body) {
				writeShortError(req.w, http.StatusBadRequest, "Could not parse JSON content: "+jsonReaderMessage(body))
				return
			}
			text, err := reemitJSON(body)
			if err != nil {
				writeShortError(req.w, http.StatusBadRequest, "Could not parse JSON content: "+err.Error())
				return
			}
			input = client.RawJSON(text)
		} else {
			input = string(body)
		}
	}
	if err := h.c.SignalEntity(req.r.Context(), id, op, input); err != nil {
		if errors.Is(err, client.ErrInvalid) {
			writeShortError(req.w, http.StatusBadRequest, err.Error())
			return
		}
		h.internalError(req, "signal entity", id.InstanceID(), err)
		return
	}
	writeEmpty(req.w, http.StatusAccepted)
}

// jsonReaderMessage words a JSON syntax error as Newtonsoft's JsonReader
// does for the cases the extension was asked (a truncated object);
// other errors get the same frame with our position.
func jsonReaderMessage(body []byte) string {
	var v any
	err := json.Unmarshal(body, &v)
	var se *json.SyntaxError
	pos := int64(len(body))
	if errors.As(err, &se) {
		pos = se.Offset
	}
	return "Error reading JObject from JsonReader. Path '', line 1, position " + itoa(pos) + "."
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
