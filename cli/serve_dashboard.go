package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/httpapi"
	"github.com/azdurable/azdurable/internal/dashboard"
	"github.com/azdurable/azdurable/provider/azurestorage"
)

// serveDashboard builds serve's handler: the dashboard at /dashboard/ and
// the API (already guarded) everywhere else. The dashboard sits behind a
// Guard of its own that never admits cross-site state changes, key or
// not: a browser that signed in carries a session cookie a hostile page
// could otherwise ride on.
func serveDashboard(api http.Handler, be *azurestorage.Backend, c *client.Client, taskHub, key string, readOnly bool,
	g httpapi.GuardOptions, log *slog.Logger) (http.Handler, error) {
	d, err := dashboard.New(dashboard.Options{Client: c, TaskHub: taskHub, Keys: []string{key}, ReadOnly: readOnly, Logger: log,
		PublicOrigin: g.PublicOrigin,
		Hub:          func(ctx context.Context) (*azurestorage.HubActivity, error) { return be.Activity(ctx) },
		SignalEntity: signalEntityWith(c)})
	if err != nil {
		return nil, err
	}
	g.AllowCrossSite = false
	guarded, err := httpapi.Guard(d, g)
	if err != nil {
		return nil, err
	}
	if readOnly {
		api = readOnlyAPI(api)
	}
	mux := http.NewServeMux()
	mux.Handle(dashboard.Prefix, guarded)
	mux.Handle("/", api)
	return mux, nil
}

// signalEntityWith is the dashboard's signal form sent through the client:
// the input is JSON text the dashboard has checked, stored as it is.
func signalEntityWith(c *client.Client) func(ctx context.Context, name, key, operation string, input *string) error {
	return func(ctx context.Context, name, key, operation string, input *string) error {
		var in any
		if input != nil {
			in = client.RawJSON(*input)
		}
		return c.SignalEntity(ctx, durable.NewEntityID(name, key), operation, in)
	}
}

// checkBasePath refuses a base path that the dashboard would hide.
func checkBasePath(basePath string) error {
	p := "/" + strings.Trim(strings.ToLower(basePath), "/")
	if p == "/dashboard" || strings.HasPrefix(p, "/dashboard/") {
		return fmt.Errorf("--base-path %s: /dashboard/ is the dashboard's", basePath)
	}
	return nil
}

// readOnlyAPI refuses every request of the API that could change
// something (any method but GET, HEAD and OPTIONS).
func readOnlyAPI(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			next.ServeHTTP(w, r)
		default:
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintln(w, "this server is read-only (--read-only)")
		}
	})
}
