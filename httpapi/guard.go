package httpapi

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// GuardOptions configure Guard.
type GuardOptions struct {
	// Listen is the address the server listens on, host:port (the
	// listener's address, so that a port 0 is resolved). Requests may name
	// it in their Host. When its host is unspecified (0.0.0.0, ::, empty),
	// requests may name any address of this machine's interfaces instead.
	Listen string
	// PublicHosts are the further names callers may use in Host: "name"
	// (any port) or "name:port", matched in any case. Behind a reverse
	// proxy that keeps the caller's Host, list the public name here.
	PublicHosts []string
	// PublicOrigin is the API's public scheme://host[:port], when one is
	// configured (Options.Origin): its host may be named in Host, and
	// requests from pages of that origin are same-origin.
	PublicOrigin string
	// AllowCrossSite admits state-changing requests from pages of other
	// web origins. Set it only when every caller must present a key, which
	// a hostile page cannot know.
	AllowCrossSite bool
}

// Guard returns next behind the checks that keep web pages in a browser
// on the same machine from using an API that trusts its callers by their
// network address (an API without keys, admitted to loopback callers):
//
//   - Host: a request whose Host header is neither the listen address, a
//     loopback name or address ("localhost", 127.0.0.1, [::1]), nor one of
//     PublicHosts (or PublicOrigin's host) is refused. A page that rebinds
//     its own DNS name to 127.0.0.1 (DNS rebinding) sends its own name in
//     Host, so it can neither read nor change anything.
//   - Cross-site requests: unless AllowCrossSite, a state-changing request
//     (any method but GET, HEAD and OPTIONS) that carries an Origin header
//     other than the request's own origin (or PublicOrigin), "Origin:
//     null", or "Sec-Fetch-Site: cross-site" is refused: a browser adds
//     them to the form posts and fetches of a page of another site, which
//     need no CORS permission when they are "simple" (a form POST, a
//     text/plain body). Requests without them, as curl, scripts, SDKs and
//     Logic Apps send them, and requests from the API's own pages pass, and
//     their content types are answered as the extension answers them.
//
// A refused request is answered 403 with a one-line text/plain body, and
// next never sees it. Guard is independent of the routes: any handler
// served this way (the management API, a dashboard) can sit behind it.
func Guard(next http.Handler, o GuardOptions) (http.Handler, error) {
	g := &guard{next: next, allowCrossSite: o.AllowCrossSite, hosts: map[string]bool{}}
	host, port, err := net.SplitHostPort(o.Listen)
	if err != nil {
		return nil, fmt.Errorf("httpapi: GuardOptions.Listen %q: %w", o.Listen, err)
	}
	g.listenPort = port
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		g.anyLocalIP = true
	} else {
		g.hosts[strings.ToLower(host)] = true
		g.hosts[strings.ToLower(net.JoinHostPort(host, port))] = true
	}
	for _, h := range o.PublicHosts {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" || strings.ContainsAny(h, "/?#@ ") {
			return nil, fmt.Errorf("httpapi: public host %q must be a host name, optionally with :port", h)
		}
		g.hosts[h] = true
	}
	if o.PublicOrigin != "" {
		u, err := url.Parse(o.PublicOrigin)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, errors.New("httpapi: GuardOptions.PublicOrigin must be scheme://host[:port]")
		}
		g.publicOrigin = u.Scheme + "://" + strings.ToLower(u.Host)
		g.hosts[strings.ToLower(u.Host)] = true
	}
	return g, nil
}

type guard struct {
	next           http.Handler
	hosts          map[string]bool // allowed "host" (any port) and "host:port"
	listenPort     string
	anyLocalIP     bool
	publicOrigin   string
	allowCrossSite bool
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !g.hostAllowed(r.Host) {
		refuse(w, "this server does not answer to the host name in the request; name it with --public-host")
		return
	}
	if !g.allowCrossSite && !safeMethod(r.Method) && g.crossSite(r) {
		refuse(w, "cross-site requests may not change instances; send the request without an Origin header, or use a key")
		return
	}
	g.next.ServeHTTP(w, r)
}

func refuse(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusForbidden)
	_, _ = fmt.Fprintln(w, msg)
}

// safeMethod reports whether a method reads only.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// hostAllowed checks a Host header (host or host:port).
func (g *guard) hostAllowed(hostport string) bool {
	hostport = strings.ToLower(strings.TrimSuffix(hostport, "."))
	if hostport == "" {
		return false
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = strings.Trim(hostport, "[]"), ""
	}
	host = strings.TrimSuffix(host, ".")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	if ip != nil && ip.IsLoopback() {
		return true
	}
	if g.hosts[host] || (port != "" && g.hosts[net.JoinHostPort(host, port)]) {
		return true
	}
	// Bound to every interface: any address of this machine, on the
	// listen port. A rebinding page always sends a name, never an address.
	return g.anyLocalIP && ip != nil && (port == "" || port == g.listenPort) && localIP(ip)
}

// localIP reports whether ip is an address of one of this machine's
// interfaces.
func localIP(ip net.IP) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}

// crossSite reports whether a browser marked the request as coming from a
// page of another origin.
func (g *guard) crossSite(r *http.Request) bool {
	if strings.EqualFold(strings.TrimSpace(r.Header.Get("Sec-Fetch-Site")), "cross-site") {
		return true
	}
	origins, present := r.Header["Origin"]
	if !present {
		return false
	}
	for _, origin := range origins {
		if !g.sameOrigin(strings.TrimSpace(origin), r) {
			return true
		}
	}
	return false
}

// sameOrigin reports whether origin is the request's own origin or the
// configured public origin (SameOrigin).
func (g *guard) sameOrigin(origin string, r *http.Request) bool {
	return SameOrigin(origin, r, g.publicOrigin)
}

// SameOrigin reports whether origin, an Origin header's value, is the
// request's own origin (the scheme it came in on, its Host) or
// publicOrigin (scheme://host[:port]; empty for none), the scheme's
// default port implied where none is written. "null" and anything that is
// not an http or https origin is not. The API's guard and the dashboard
// decide cross-site requests with it.
func SameOrigin(origin string, r *http.Request, publicOrigin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || u.Path != "" || u.RawQuery != "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false // "null", garbage
	}
	got := u.Scheme + "://" + strings.ToLower(withDefaultPort(u.Scheme, u.Host))
	if publicOrigin != "" {
		if pu, err := url.Parse(publicOrigin); err == nil && got == pu.Scheme+"://"+strings.ToLower(withDefaultPort(pu.Scheme, pu.Host)) {
			return true
		}
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return got == scheme+"://"+strings.ToLower(withDefaultPort(scheme, r.Host))
}

// withDefaultPort adds the scheme's default port to a host without one.
func withDefaultPort(scheme, hostport string) string {
	if _, _, err := net.SplitHostPort(hostport); err == nil {
		return hostport
	}
	port := "80"
	if scheme == "https" {
		port = "443"
	}
	return net.JoinHostPort(strings.Trim(hostport, "[]"), port)
}
