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
func (h *Handler) rewind(req *request) {
	id := req.segs[1]
	err := h.c.Rewind(req.r.Context(), id, req.q.str("reason"))
	var se *client.StatusError
	switch {
	case err == nil:
		writeEmpty(req.w, http.StatusAccepted)
	case errors.Is(err, client.ErrNotFound) || unknownID(err):
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
