package httpapi

import (
	"net/http"
	"strings"

	"github.com/azdurable/azdurable/internal/netjson"
)

// ManagementPayload holds an instance's management URLs, as C#'s
// HttpManagementPayload. The URLs may carry a key (Options.URLQuery): do
// not log them.
type ManagementPayload struct {
	// ID is the instance id, unencoded.
	ID string
	// StatusQueryGetURI answers the instance's status (GET).
	StatusQueryGetURI string
	// SendEventPostURI raises an event; "{eventName}" is a placeholder.
	SendEventPostURI string
	// TerminatePostURI, RewindPostURI, SuspendPostURI and ResumePostURI
	// take a "reason" whose value "{text}" is a placeholder.
	TerminatePostURI string
	RewindPostURI    string
	// PurgeHistoryDeleteURI purges the instance (DELETE).
	PurgeHistoryDeleteURI string
	// RestartPostURI starts the orchestration again.
	RestartPostURI string
	SuspendPostURI string
	ResumePostURI  string
}

// MarshalJSON writes the members in C#'s order with C#'s names: id,
// statusQueryGetUri, sendEventPostUri, terminatePostUri, rewindPostUri,
// purgeHistoryDeleteUri, restartPostUri, suspendPostUri, resumePostUri.
// Encode it with a json.Encoder with SetEscapeHTML(false) to keep the
// URLs' '&' literal, as C# writes them; json.Marshal writes \u0026.
func (p ManagementPayload) MarshalJSON() ([]byte, error) {
	return p.appendJSON(true), nil
}

// appendJSON writes the payload; the check-status body leaves out
// rewindPostUri, as the extension does while rewind is in preview.
func (p ManagementPayload) appendJSON(withRewind bool) []byte {
	w := netjson.NewWriter(nil)
	w.BeginObject()
	field := func(name, v string) {
		w.Key(name)
		w.String(v)
	}
	field("id", p.ID)
	field("statusQueryGetUri", p.StatusQueryGetURI)
	field("sendEventPostUri", p.SendEventPostURI)
	field("terminatePostUri", p.TerminatePostURI)
	if withRewind {
		field("rewindPostUri", p.RewindPostURI)
	}
	field("purgeHistoryDeleteUri", p.PurgeHistoryDeleteURI)
	field("restartPostUri", p.RestartPostURI)
	field("suspendPostUri", p.SuspendPostURI)
	field("resumePostUri", p.ResumePostURI)
	w.EndObject()
	return w.Bytes()
}

// origin is the scheme and authority of the generated URLs: the
// configured public origin, else the request's ("" without either, which
// makes the URLs host-relative).
func (h *Handler) origin(r *http.Request) string {
	if h.opts.Origin != "" {
		return h.opts.Origin
	}
	if r == nil || r.Host == "" {
		return ""
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// links builds the management URLs of an instance (spec §2.1).
func (h *Handler) links(r *http.Request, instanceID, hub, connection string, failOn500 bool) ManagementPayload {
	inst := h.origin(r) + h.opts.BasePath + "/instances/" + urlEncode(instanceID)
	q := "taskHub=" + urlEncode(hub) + "&connection=" + urlEncode(connection)
	if h.opts.URLQuery != "" {
		q += "&" + h.opts.URLQuery
	}
	status := inst + "?" + q
	if failOn500 {
		status += "&returnInternalServerErrorOnFailure=true"
	}
	return ManagementPayload{
		ID:                    instanceID,
		StatusQueryGetURI:     status,
		SendEventPostURI:      inst + "/raiseEvent/{eventName}?" + q,
		TerminatePostURI:      inst + "/terminate?reason={text}&" + q,
		RewindPostURI:         inst + "/rewind?reason={text}&" + q,
		PurgeHistoryDeleteURI: inst + "?" + q,
		RestartPostURI:        inst + "/restart?" + q,
		SuspendPostURI:        inst + "/suspend?reason={text}&" + q,
		ResumePostURI:         inst + "/resume?reason={text}&" + q,
	}
}

// CheckStatusOptions adjust WriteCheckStatusResponse. A nil pointer means
// the defaults.
type CheckStatusOptions struct {
	// ReturnInternalServerErrorOnFailure adds
	// returnInternalServerErrorOnFailure=true to statusQueryGetUri, so that
	// polling a failed instance answers 500.
	ReturnInternalServerErrorOnFailure bool
}

// WriteCheckStatusResponse answers r with the extension's check-status
// response for an instance (C#'s CreateCheckStatusResponse): 202, Location
// = statusQueryGetUri, Retry-After: 10, and a JSON body with the id and
// the management URLs (no rewindPostUri). Use it in your own handlers
// after starting an orchestration; the URLs point at this Handler.
func (h *Handler) WriteCheckStatusResponse(w http.ResponseWriter, r *http.Request, instanceID string, o *CheckStatusOptions) {
	fail := o != nil && o.ReturnInternalServerErrorOnFailure
	h.writeCheckStatus(w, h.links(r, instanceID, h.opts.TaskHub, h.opts.Connection, fail))
}

func (h *Handler) writeCheckStatus(w http.ResponseWriter, p ManagementPayload) {
	w.Header().Set("Location", p.StatusQueryGetURI)
	w.Header().Set("Retry-After", "10")
	writeJSONBody(w, http.StatusAccepted, p.appendJSON(false))
}

// CreateHTTPManagementPayload returns an instance's management URLs
// without a request (C#'s CreateHttpManagementPayload): the origin is
// Options.Origin, or none (host-relative URLs) when it is not set.
func (h *Handler) CreateHTTPManagementPayload(instanceID string) ManagementPayload {
	return h.links(nil, instanceID, h.opts.TaskHub, h.opts.Connection, false)
}

// urlEncode is .NET's WebUtility.UrlEncode: letters, digits and
// "-_.!*()" are kept, a space becomes '+', every other byte of the UTF-8
// text becomes %XX with upper-case hex.
func urlEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '-', c == '_', c == '.', c == '!', c == '*', c == '(', c == ')':
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}
