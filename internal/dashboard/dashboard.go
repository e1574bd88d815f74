// Package dashboard serves the task hub dashboard of `azdurable serve`: the
// hub's counts, partitions, queues and quarantined messages, the instances
// (filtered and paged with the same queries as the HTTP API), one
// instance's state, history and timeline, and the durable entities.
//
// Design. Every page is rendered on the server with html/template, which
// escapes what it writes by context (text, attributes, URLs, inline SVG),
// so an instance id, input or custom status that holds markup is shown as
// text. The few assets (one stylesheet, one script for auto-refresh and
// select-all) are embedded, and a Content-Security-Policy admits only
// them: no inline script runs, nothing is fetched from elsewhere.
//
// Access follows the HTTP API: without keys only loopback callers are
// admitted; with keys the caller presents one once (the code query
// parameter, the x-functions-key header or the login form) and receives a
// session cookie (HttpOnly, SameSite=Strict, valid for this process's
// life). Every action is a POST that must carry the page's CSRF token (an
// HMAC of a per-process secret, which a page of another site cannot read)
// and must not be marked cross-site by the browser; destructive actions
// first show a confirmation page. With ReadOnly no action is offered and
// every POST but the login is refused. The server mounting the dashboard
// also puts it behind httpapi.Guard, which refuses foreign Host names (DNS
// rebinding).
//
// The hub section reads storage through Options.Hub (the Azure Storage
// backend's admin API); the rest uses the client only, so the pages work
// on any backend and on hubs C# wrote.
package dashboard

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/httpapi"
	"github.com/azdurable/azdurable/provider/azurestorage"
)

// Prefix is where the dashboard is mounted.
const Prefix = "/dashboard/"

//go:embed assets templates
var files embed.FS

// Options configure a Handler.
type Options struct {
	// Client manages the instances (required).
	Client *client.Client
	// TaskHub is the hub's name, shown in every page (required).
	TaskHub string
	// Hub reads the hub's partitions, queues and quarantined messages;
	// nil leaves that part of the hub section out.
	Hub func(context.Context) (*azurestorage.HubActivity, error)
	// Keys, when set, are the keys a caller must present once; without
	// keys only loopback callers are admitted.
	Keys []string
	// PublicOrigin is the dashboard's public scheme://host[:port] behind
	// a reverse proxy: the Origin its own pages' forms carry when the
	// proxy sends another Host (nginx sends the upstream address). Forms
	// from it are the dashboard's own, not cross-site.
	PublicOrigin string
	// ReadOnly offers no action and refuses every action request.
	ReadOnly bool
	// SignalEntity sends an operation to a durable entity; nil leaves the
	// signal form out of the entities page.
	SignalEntity func(ctx context.Context, name, key, operation string, input *string) error
	// Refresh is the auto-refresh period of the hub section (default 10 s).
	Refresh time.Duration
	// Logger receives backend errors (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock (default time.Now); tests may fix it.
	Now func() time.Time
}

// Handler serves the dashboard under Prefix. It is safe for concurrent use.
type Handler struct {
	o       Options
	c       *client.Client
	log     *slog.Logger
	tmpl    *template.Template
	assets  http.Handler
	keyAuth func(*http.Request) error
	session string // cookie value of an authorized browser
	csrf    string // token every action form carries
}

// sessionCookie names the dashboard's session cookie.
const sessionCookie = "azdurable-dashboard"

// New returns a Handler.
func New(o Options) (*Handler, error) {
	if o.Client == nil {
		return nil, errors.New("dashboard: Options.Client is required")
	}
	if o.TaskHub == "" {
		return nil, errors.New("dashboard: Options.TaskHub is required")
	}
	if o.Refresh <= 0 {
		o.Refresh = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PublicOrigin != "" {
		u, err := url.Parse(o.PublicOrigin)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, errors.New("dashboard: Options.PublicOrigin must be scheme://host[:port]")
		}
	}
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return nil, err
	}
	mac := func(what string) string {
		m := hmac.New(sha256.New, secret[:])
		m.Write([]byte(what))
		return hex.EncodeToString(m.Sum(nil))
	}
	tmpl, err := template.New("").Funcs(funcs).ParseFS(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	assets, err := fs.Sub(files, "assets")
	if err != nil {
		return nil, err
	}
	h := &Handler{o: o, c: o.Client, log: o.Logger, tmpl: tmpl,
		assets:  http.StripPrefix(Prefix+"assets/", http.FileServer(http.FS(assets))),
		session: mac("session"), csrf: mac("csrf")}
	var keys []string
	for _, k := range o.Keys {
		if k != "" {
			keys = append(keys, k)
		}
	}
	if len(keys) > 0 {
		h.keyAuth = httpapi.KeyAuthorizer(keys...)
	}
	return h, nil
}

// ServeHTTP serves the pages, the assets and the actions.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
		"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin") // "no-referrer" would make form posts send Origin: null
	hd.Set("Cache-Control", "no-store")
	rest, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok {
		http.Redirect(w, r, Prefix, http.StatusFound)
		return
	}
	if r.Method == http.MethodPost && h.crossSite(r) {
		h.fail(w, r, http.StatusForbidden, "cross-site requests may not act on this dashboard")
		return
	}
	if rest == "login" && r.Method == http.MethodPost {
		h.login(w, r)
		return
	}
	if strings.HasPrefix(rest, "assets/") {
		// The assets hold nothing secret; the login page needs them.
		h.assets.ServeHTTP(w, r)
		return
	}
	if !h.authorize(w, r) {
		return
	}
	if r.Method == http.MethodPost {
		if h.o.ReadOnly {
			h.fail(w, r, http.StatusForbidden, "this dashboard is read-only")
			return
		}
		if err := r.ParseForm(); err != nil || subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(h.csrf)) != 1 {
			h.fail(w, r, http.StatusForbidden, "the form is stale or did not come from this dashboard; reload the page")
			return
		}
		// A confirmed action finishes even when the browser leaves (a
		// closed tab, a second click): net/http ends the request's context
		// with the connection, which would stop a bulk action half-way or a
		// rewind between two of its writes.
		ctx, cancel := httpapi.Detached(r.Context())
		defer cancel()
		r = r.WithContext(ctx)
	} else if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.fail(w, r, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	switch {
	case rest == "" && r.Method != http.MethodPost:
		h.index(w, r)
	case rest == "hub" && r.Method != http.MethodPost:
		h.hubFragment(w, r)
	case rest == "instance" && r.Method != http.MethodPost:
		h.instance(w, r)
	case rest == "entities" && r.Method != http.MethodPost:
		h.entities(w, r)
	case rest == "login" && r.Method != http.MethodPost:
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
	case rest == "action" && r.Method == http.MethodPost:
		h.action(w, r)
	case rest == "bulk" && r.Method == http.MethodPost:
		h.bulk(w, r)
	case rest == "signal" && r.Method == http.MethodPost && h.o.SignalEntity != nil:
		h.signal(w, r)
	default:
		h.fail(w, r, http.StatusNotFound, "no such page")
	}
}

// crossSite reports whether the browser marked a request as sent by a
// page of another site, or of another origin of this site (Sec-Fetch-Site,
// else an Origin that is neither the request's own origin nor the public
// origin: httpapi.SameOrigin).
func (h *Handler) crossSite(r *http.Request) bool {
	switch strings.ToLower(strings.TrimSpace(r.Header.Get("Sec-Fetch-Site"))) {
	case "cross-site", "same-site":
		return true
	}
	origin, present := r.Header["Origin"]
	if !present {
		return false
	}
	for _, o := range origin {
		if !httpapi.SameOrigin(strings.TrimSpace(o), r, h.o.PublicOrigin) {
			return true
		}
	}
	return false
}

// authorize admits the request or answers it; it reports whether the
// request may proceed.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request) bool {
	if h.keyAuth == nil {
		if httpapi.LoopbackOnly(r) != nil {
			h.fail(w, r, http.StatusForbidden, "only callers on this machine are admitted; start serve with --key to admit others")
			return false
		}
		return true
	}
	if c, err := r.Cookie(sessionCookie); err == nil && subtle.ConstantTimeCompare([]byte(c.Value), []byte(h.session)) == 1 {
		return true
	}
	if h.keyAuth(r) == nil {
		h.setSession(w, r)
		if r.Method == http.MethodGet && r.URL.Query().Has("code") {
			// Keep the key out of the address bar and the history.
			q := r.URL.Query()
			q.Del("code")
			u := *r.URL
			u.RawQuery = q.Encode()
			http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
			return false
		}
		return true
	}
	w.WriteHeader(http.StatusUnauthorized)
	h.render(w, "login", h.page(r, "Sign in", nil))
	return false
}

func (h *Handler) setSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: h.session, Path: Prefix, HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

// login checks the key of the login form and starts a session.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	if h.keyAuth == nil {
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return
	}
	key := ""
	if err := r.ParseForm(); err == nil {
		key = r.PostForm.Get("key")
	}
	probe, _ := http.NewRequest(http.MethodGet, "/", nil)
	probe.Header.Set(httpapi.KeyHeader, key)
	if key == "" || h.keyAuth(probe) != nil {
		w.WriteHeader(http.StatusUnauthorized)
		h.render(w, "login", h.page(r, "Sign in", map[string]any{"Wrong": true}))
		return
	}
	h.setSession(w, r)
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}

// page is the data every template gets.
type page struct {
	Title    string
	TaskHub  string
	CSRF     string
	ReadOnly bool
	Refresh  int // seconds
	Now      time.Time
	Data     any
	Flash    string
	Error    string
}

func (h *Handler) page(r *http.Request, title string, data any) *page {
	return &page{Title: title, TaskHub: h.o.TaskHub, CSRF: h.csrf, ReadOnly: h.o.ReadOnly,
		Refresh: int(h.o.Refresh / time.Second), Now: h.o.Now().UTC(), Data: data, Flash: r.URL.Query().Get("done")}
}

func (h *Handler) render(w http.ResponseWriter, name string, p *page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := h.tmpl.ExecuteTemplate(w, name, p); err != nil {
		h.log.Error("dashboard: rendering", "page", name, "err", err)
	}
}

// fail answers an error page.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, code int, msg string) {
	w.WriteHeader(code)
	p := h.page(r, http.StatusText(code), nil)
	p.Error = msg
	h.render(w, "error", p)
}

// backendError logs err and answers 502 (404 for an unknown instance).
func (h *Handler) backendError(w http.ResponseWriter, r *http.Request, what string, err error) {
	if errors.Is(err, client.ErrNotFound) {
		h.fail(w, r, http.StatusNotFound, what+": no such instance")
		return
	}
	h.log.Error("dashboard: "+what, "err", err)
	h.fail(w, r, http.StatusBadGateway, what+": "+err.Error())
}
