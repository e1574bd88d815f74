package httpapi

import (
	"errors"
	"net/http"
)

// rewind answers POST instances/{id}/rewind: azdurable cannot rewind yet.
func (h *Handler) rewind(req *request) {
	writeLongError(req.w, http.StatusNotImplemented, "Rewind is not supported by azdurable", excNotSupported,
		errors.New("azdurable cannot rewind a failed orchestration yet; restart it instead (POST instances/{id}/restart)"))
}
