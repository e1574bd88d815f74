package httpapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/azdurable/azdurable/client"
)

// rewind answers POST instances/{id}/rewind as the extension does: 202
// once a Failed instance is rewound, 412 with a JSON string for any other
// status, 404 with a JSON string (its "$" included) for an unknown id.
//
// Rewinds of one instance run one at a time (client.Rewind), so that a
// request that arrives while another rewinds the instance answers as one
// that came after it (412: the instance is no longer Failed) instead of
// failing on the rows the first one rewrote. A rewind that fails because the
// instance changed meanwhile (another process rewound or terminated it)
// is answered from the status it has now, when that is not Failed.
func (h *Handler) rewind(req *request) {
	id := req.segs[1]
	ctx, cancel := Detached(req.r.Context())
	defer cancel()
	err := h.c.Rewind(ctx, id, req.q.str("reason"))
	var se *client.StatusError
	switch {
	case err == nil:
		writeEmpty(req.w, http.StatusAccepted)
	case errors.Is(err, client.ErrNotFound) || unknownID(err):
		writeJSONBody(req.w, http.StatusNotFound, jsonString(fmt.Sprintf("No orchestration with instance ID \"$%s\" found.", id)))
	case errors.As(err, &se) && errors.Is(err, client.ErrNotFailed):
		writeNotFailed(req.w, se.Status)
	case errors.Is(err, client.ErrRewindNotSupported):
		writeLongError(req.w, http.StatusNotImplemented, "Rewind is not supported by this backend", excNotSupported, err)
	default:
		if st, serr := h.c.GetState(ctx, id, client.WithInputsAndOutputs(false)); serr == nil && st.Status != client.Failed {
			writeNotFailed(req.w, st.Status)
			return
		}
		h.internalError(req, "rewind", id, err)
	}
}

// writeNotFailed is the extension's answer to a rewind of an instance
// that is not Failed.
func writeNotFailed(w http.ResponseWriter, status client.Status) {
	writeJSONBody(w, http.StatusPreconditionFailed, jsonString(fmt.Sprintf(
		"This orchestration has status %s, but only orchestrations in the \"Failed\" state can be rewound.", status)))
}
