package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/internal/registry"
)

// DefaultBasePath is the base path of the routes in Functions 2.x and later.
const DefaultBasePath = "/runtime/webhooks/durabletask"

// DefaultConnection is the connection name written into management URLs
// when none is configured: the Azure Storage provider's default.
const DefaultConnection = "Storage"

// maxBodyBytes bounds request bodies (orchestration inputs, event data).
const maxBodyBytes = 32 << 20

// Options configure a Handler. Zero values mean the documented defaults.
type Options struct {
	// Client manages the instances (required).
	Client *client.Client
	// TaskHub is the name of the task hub Client works on (required). It
	// is written into management URLs, and requests naming another hub in
	// their taskHub parameter are refused with 400.
	TaskHub string
	// Connection is the connection name written into management URLs
	// (default "Storage"); requests naming another connection are refused
	// with 400.
	Connection string
	// BasePath is where the routes live (default DefaultBasePath; "/"
	// serves them at the root). It is matched in any case.
	BasePath string
	// Origin is the public scheme and authority of the API, such as
	// "https://myapp.example.com". When set it is used in every generated
	// URL and Location header; when empty the request's own scheme and
	// Host are used (set Origin behind a reverse proxy).
	Origin string
	// URLQuery is appended to the query of generated management URLs,
	// such as "code=<key>" to mimic Functions; empty for bearer, mTLS or
	// network-level authorization. It is never logged.
	URLQuery string
	// Keys, when Authorize is nil, are the keys accepted in the
	// x-functions-key header or the code query parameter (KeyAuthorizer).
	Keys []string
	// Authorize decides whether a request may use the API; it runs before
	// routing. An error wrapping ErrUnauthorized answers 401, any other
	// error 403. When nil: KeyAuthorizer(Keys...) if Keys has a key, else
	// LoopbackOnly.
	Authorize func(*http.Request) error
	// Orchestrators reports whether the start route may start the
	// orchestration named in the request, and under which registered
	// spelling and version. When nil every name is accepted as written.
	// FromRegistrations builds it from a worker's registrations.
	Orchestrators func(name string) (registered, version string, ok bool)
	// Logger receives backend errors (never URLs, which may carry keys).
	// Default slog.Default().
	Logger *slog.Logger
	// MaxWaiting bounds the start and restart requests that wait for
	// completion (timeout and pollingInterval given) at once; the requests
	// past it answer at once with the check-status response, as a wait
	// that timed out does. Default DefaultMaxWaiting.
	MaxWaiting int
}

// FromRegistrations returns an Options.Orchestrators function that
// accepts the orchestrations among items, matched in any case and started
// under their registered spelling and version (the last one given, when a
// name is registered in several versions). Activities are ignored.
func FromRegistrations(items ...durable.Registrable) func(name string) (registered, version string, ok bool) {
	type entry struct{ name, version string }
	known := map[string]entry{}
	for _, it := range items {
		e, err := registry.Describe(it)
		if err != nil || e.Orchestration == nil {
			continue
		}
		known[strings.ToLower(e.Name)] = entry{e.Name, e.Version}
	}
	return func(name string) (string, string, bool) {
		e, ok := known[strings.ToLower(name)]
		return e.name, e.version, ok
	}
}

// Handler serves the Durable Functions instance-management routes. It is
// safe for concurrent use.
type Handler struct {
	opts    Options
	c       *client.Client
	log     *slog.Logger
	waiting chan struct{} // one token per request waiting for completion
}

// New returns a Handler.
func New(o Options) (*Handler, error) {
	if o.Client == nil {
		return nil, errors.New("httpapi: Options.Client is required")
	}
	if o.TaskHub == "" {
		return nil, errors.New("httpapi: Options.TaskHub is required")
	}
	if o.Connection == "" {
		o.Connection = DefaultConnection
	}
	if o.BasePath == "" {
		o.BasePath = DefaultBasePath
	}
	o.BasePath = "/" + strings.Trim(o.BasePath, "/")
	if o.BasePath == "/" {
		o.BasePath = ""
	}
	if o.Origin != "" {
		u, err := url.Parse(o.Origin)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" {
			return nil, fmt.Errorf("httpapi: Options.Origin must be scheme://host[:port], such as https://myapp.example.com")
		}
		o.Origin = u.Scheme + "://" + u.Host
	}
	o.URLQuery = strings.TrimPrefix(o.URLQuery, "?")
	if o.Authorize == nil {
		if slices.ContainsFunc(o.Keys, func(k string) bool { return k != "" }) {
			o.Authorize = KeyAuthorizer(o.Keys...)
		} else {
			o.Authorize = LoopbackOnly
		}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxWaiting <= 0 {
		o.MaxWaiting = DefaultMaxWaiting
	}
	return &Handler{opts: o, c: o.Client, log: o.Logger, waiting: make(chan struct{}, o.MaxWaiting)}, nil
}

// BasePath returns the path the routes are served under ("" for the root).
func (h *Handler) BasePath() string { return h.opts.BasePath }

// request is one routed request.
type request struct {
	w    http.ResponseWriter
	r    *http.Request
	q    query
	segs []string
}

// ServeHTTP routes a request (see the package documentation). Requests
// outside the base path, and every method or route mismatch, answer 404
// with an empty body.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := h.trimBase(r.URL.EscapedPath())
	if !ok {
		writeEmpty(w, http.StatusNotFound)
		return
	}
	if !h.authorize(w, r) {
		return
	}
	var segs []string
	if rest = strings.Trim(rest, "/"); rest != "" {
		for _, s := range strings.Split(rest, "/") {
			v, err := url.PathUnescape(s)
			if err != nil {
				writeEmpty(w, http.StatusNotFound)
				return
			}
			segs = append(segs, v)
		}
	}
	req := &request{w: w, r: r, q: parseQuery(r.URL.RawQuery), segs: segs}
	if route := h.route(req); route != nil {
		if h.checkHub(req) {
			route(req)
		}
		return
	}
	writeEmpty(w, http.StatusNotFound)
}

// trimBase returns the escaped path after the base path.
func (h *Handler) trimBase(p string) (string, bool) {
	base := h.opts.BasePath
	if len(p) < len(base) || !strings.EqualFold(p[:len(base)], base) {
		return "", false
	}
	rest := p[len(base):]
	if rest != "" && rest[0] != '/' {
		return "", false
	}
	return rest, true
}

// route picks the operation for the method and segments, or nil.
func (h *Handler) route(req *request) func(*request) {
	s, m := req.segs, req.r.Method
	is := func(i int, lit string) bool { return len(s) > i && strings.EqualFold(s[i], lit) }
	switch {
	case is(0, "orchestrators") && (len(s) == 2 || len(s) == 3) && m == http.MethodPost:
		return h.start
	case is(0, "entities"):
		return h.entities
	case !is(0, "instances"):
		return nil
	case len(s) == 1 && m == http.MethodGet:
		return h.list
	case len(s) == 1 && m == http.MethodDelete:
		return h.purgeWhere
	case len(s) == 2 && m == http.MethodGet:
		return h.status
	case len(s) == 2 && m == http.MethodDelete:
		return h.purge
	case len(s) == 4 && is(2, "raiseEvent") && m == http.MethodPost:
		return h.raise
	case len(s) != 3 || m != http.MethodPost:
		return nil
	case is(2, "terminate"):
		return h.terminate
	case is(2, "suspend"):
		return h.suspend
	case is(2, "resume"):
		return h.resume
	case is(2, "rewind"):
		return h.rewind
	case is(2, "restart"):
		return h.restart
	}
	return nil
}

// checkHub refuses requests for another task hub or connection than the
// one this Handler serves.
func (h *Handler) checkHub(req *request) bool {
	if hub := strings.TrimSpace(req.q.str("taskHub")); hub != "" && !strings.EqualFold(hub, h.opts.TaskHub) {
		writeLongError(req.w, http.StatusBadRequest, msgBadArguments, excArgument,
			fmt.Errorf("task hub %q is not served here; this API serves %q", hub, h.opts.TaskHub))
		return false
	}
	if conn := strings.TrimSpace(req.q.str("connection")); conn != "" && !strings.EqualFold(conn, h.opts.Connection) {
		writeLongError(req.w, http.StatusBadRequest, msgBadArguments, excArgument,
			fmt.Errorf("connection %q is not served here; this API serves %q", conn, h.opts.Connection))
		return false
	}
	return true
}

// hubAndConnection are the names for URLs built on the start and restart
// routes: the request's parameters when given, else the configured ones.
func (h *Handler) hubAndConnection(q query) (string, string) {
	hub, conn := strings.TrimSpace(q.str("taskHub")), strings.TrimSpace(q.str("connection"))
	if hub == "" {
		hub = h.opts.TaskHub
	}
	if conn == "" {
		conn = h.opts.Connection
	}
	return hub, conn
}

// internalError answers 500 with the long error and logs the cause.
func (h *Handler) internalError(req *request, op, instanceID string, err error) {
	h.log.Warn("httpapi: request failed", "op", op, "instance", instanceID, "err", err)
	writeLongError(req.w, http.StatusInternalServerError, msgInternal, excGeneric, err)
}
