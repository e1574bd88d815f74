package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"strings"
)

// Errors an Authorize hook returns. A hook's error that wraps
// ErrUnauthorized answers 401; any other error answers 403. Both have an
// empty body.
var (
	// ErrUnauthorized means the caller presented no valid credentials.
	ErrUnauthorized = errors.New("httpapi: missing or invalid key")
	// ErrForbidden means the caller may not use the API.
	ErrForbidden = errors.New("httpapi: caller not allowed")
)

// KeyHeader is the request header that carries a key; it takes precedence
// over the "code" query parameter, as in the Functions host.
const KeyHeader = "x-functions-key"

// KeyAuthorizer returns an Authorize hook that accepts a request carrying
// one of keys in the x-functions-key header or, when the header is absent,
// in the "code" query parameter (any case of the name). Keys are compared
// in constant time. Empty keys are ignored; with none left every request
// is refused.
func KeyAuthorizer(keys ...string) func(*http.Request) error {
	var sums [][32]byte
	for _, k := range keys {
		if k != "" {
			sums = append(sums, sha256.Sum256([]byte(k)))
		}
	}
	return func(r *http.Request) error {
		got := r.Header.Get(KeyHeader)
		if got == "" {
			got = parseQuery(r.URL.RawQuery).str("code")
		}
		if got == "" {
			return ErrUnauthorized
		}
		// Comparing fixed-length digests keeps the time independent of
		// the keys' lengths too.
		sum := sha256.Sum256([]byte(got))
		ok := 0
		for _, s := range sums {
			ok |= subtle.ConstantTimeCompare(sum[:], s[:])
		}
		if ok != 1 {
			return ErrUnauthorized
		}
		return nil
	}
}

// LoopbackOnly is an Authorize hook that admits callers connected from a
// loopback address (127.0.0.0/8, ::1) and refuses everyone else with
// ErrForbidden. It looks at the connection only, never at forwarding
// headers, which any caller can set.
func LoopbackOnly(r *http.Request) error {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	if ip == nil || !ip.IsLoopback() {
		return ErrForbidden
	}
	return nil
}

// authorize runs the hook and answers a refusal; it reports whether the
// request may proceed.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request) bool {
	err := h.opts.Authorize(r)
	switch {
	case err == nil:
		return true
	case errors.Is(err, ErrUnauthorized):
		writeEmpty(w, http.StatusUnauthorized)
	default:
		writeEmpty(w, http.StatusForbidden)
	}
	return false
}
