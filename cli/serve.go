package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/httpapi"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/storage"
	"github.com/azdurable/azdurable/worker"
	"github.com/spf13/cobra"
)

// EnvHTTPKey is read when serve's --key is not given, so that the key need
// not appear in the process list.
const EnvHTTPKey = "AZDURABLE_HTTP_KEY"

// serveContext ends serve: on SIGINT or SIGTERM (tests replace it).
var serveContext = func(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

// shutdownGrace bounds how long serve waits for requests in flight.
const shutdownGrace = 10 * time.Second

func newServe(a *app) *cobra.Command {
	var listen, basePath, key, origin string
	var publicHosts []string
	var withWorker, readOnly bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the Durable Functions HTTP management API for a task hub",
		Long: `Serves the Durable Functions instance-management routes (status, list, raise
event, terminate, suspend, resume, restart, purge, start) for the task hub,
under --base-path, until interrupted. Scripts, Logic Apps polling and
dashboards written for Azure Functions work against it unchanged.

Without --key (or $` + EnvHTTPKey + `) only loopback callers are admitted, and
a request that a web page of another site sends (one with a foreign Origin
header or Sec-Fetch-Site: cross-site) may not change anything. With a key,
callers must present it in the x-functions-key header or the code query
parameter, and the generated management URLs carry it as code=<key>, as in
Functions: treat them as secrets.

Requests must name the server in their Host header as the listen address,
localhost, a loopback address, or one of the --public-host names; any other
host name is refused (a web page that rebinds its DNS name to this machine
cannot use the API). Management URLs are built from --public-origin, else
from the first --public-host, else from the listen address, never from the
caller's Host.

The start route accepts any orchestration name: other workers of the hub
(C# ones too) may host it. With --worker the same process also runs a worker
hosting the orchestrations and activities this binary was built with
(cli.Main(cli.WithRegistrations(…))), and the start route refuses the names
it lacks.

The dashboard is served at /dashboard/ on the same address, whatever
--base-path is, under the same access rules. --read-only offers no action
there and refuses every request that could change an instance.`,
		Args: exactArgs(0),
	}
	sf := addStorageFlags(cmd)
	mf := addMetricsFlags(cmd)
	fl := cmd.Flags()
	fl.StringVar(&listen, "listen", "127.0.0.1:8080", "address to listen on")
	fl.StringVar(&basePath, "base-path", httpapi.DefaultBasePath, "path the routes are served under")
	fl.StringVar(&key, "key", "", "key callers must present (default $"+EnvHTTPKey+")")
	fl.StringVar(&origin, "public-origin", "", "scheme://host[:port] to write into management URLs (default: http:// and the first --public-host, else the listen address)")
	fl.StringSliceVar(&publicHosts, "public-host", nil, "further host name[:port] callers may use in the Host header (repeat or separate with commas)")
	fl.BoolVar(&withWorker, "worker", false, "also run a worker for this binary's registrations")
	fl.BoolVar(&readOnly, "read-only", false, "refuse every request that could change an instance, in the API and the dashboard")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if key == "" {
			key = os.Getenv(EnvHTTPKey)
		}
		if err := checkBasePath(basePath); err != nil {
			return usageError{err}
		}
		if err := mf.open(); err != nil {
			return err
		}
		defer mf.close()
		ctx, stop := serveContext(cmd.Context())
		defer stop()
		var acct *storage.Account
		be, release, err := sf.backend(ctx, cmd, mf.adjust(func(o *azurestorage.Options) { acct = o.Account }))
		defer release()
		if err != nil {
			return err
		}
		regs, err := a.registrations(HostInfo{Account: acct, TaskHub: sf.taskHub})
		if err != nil {
			return err
		}
		if withWorker && len(regs) == 0 {
			return usagef("--worker: this binary has no orchestrations; build your own with cli.Main(cli.WithRegistrations(...))")
		}
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			return err
		}
		if origin == "" {
			origin = defaultOrigin(ln.Addr(), publicHosts)
		}
		o := httpapi.Options{Client: client.New(be, client.Options{}), TaskHub: sf.taskHub, BasePath: basePath,
			Origin: origin, Logger: logger(cmd)}
		if key != "" {
			o.Keys, o.URLQuery = []string{key}, "code="+url.QueryEscape(key)
		}
		// Without a worker here, other workers of the hub may host any
		// orchestration: every name is started as given.
		if withWorker {
			o.Orchestrators = httpapi.FromRegistrations(regs...)
		}
		h, err := httpapi.New(o)
		if err != nil {
			ln.Close()
			return usageError{err}
		}
		gopts := httpapi.GuardOptions{Listen: ln.Addr().String(), PublicHosts: publicHosts,
			PublicOrigin: origin, AllowCrossSite: key != ""}
		guarded, err := httpapi.Guard(h, gopts)
		if err == nil {
			guarded, err = serveDashboard(guarded, be, o.Client, sf.taskHub, key, readOnly, gopts, logger(cmd))
		}
		if err != nil {
			ln.Close()
			return usageError{err}
		}
		var hosted []durable.Registrable
		if withWorker {
			hosted = regs
		}
		stopMetrics, err := mf.serve(cmd, be, hosted)
		if err != nil {
			ln.Close()
			return err
		}
		defer stopMetrics()
		var workerDone chan error // nil without a worker: never ready
		if withWorker {
			w := worker.New(be, worker.Options{Logger: logger(cmd), Observer: mf.observer()})
			if err := w.Register(regs...); err != nil {
				ln.Close()
				return err
			}
			workerDone = make(chan error, 1)
			go func() { workerDone <- w.Run(ctx) }()
		}
		srv := &http.Server{Handler: guarded, ReadHeaderTimeout: 10 * time.Second}
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()
		// Never print the key: it is a secret, and URLs with it end up in logs.
		fmt.Fprintf(cmd.OutOrStdout(), "serving task hub %s at http://%s%s/\n", sf.taskHub, ln.Addr(), h.BasePath())
		fmt.Fprintf(cmd.OutOrStdout(), "dashboard at http://%s/dashboard/\n", ln.Addr())
		if key == "" && !isLoopback(ln.Addr()) {
			fmt.Fprintln(cmd.ErrOrStderr(), "no --key: only callers on this machine (loopback) are admitted")
		}
		if key != "" && !isLoopback(ln.Addr()) && len(publicHosts) == 0 && !cmd.Flags().Changed("public-origin") {
			fmt.Fprintf(cmd.ErrOrStderr(), "management URLs name %s; set --public-origin (and --public-host) to the name callers use\n", origin)
		}
		shutdown := func() error {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
			defer cancel()
			return srv.Shutdown(sctx)
		}
		select {
		case err = <-served:
		case err = <-workerDone:
			workerDone = nil
			if err == nil {
				err = errors.New("the worker stopped")
			}
			_ = shutdown()
		case <-ctx.Done():
			err = shutdown()
		}
		stop()
		if workerDone != nil {
			if werr := <-workerDone; err == nil {
				err = werr
			}
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		return err
	}
	return cmd
}

// defaultOrigin is the origin of management URLs when --public-origin is
// not given: http:// and the first public host (with the listen port when
// it names none), else the listen address, with localhost for an address
// that listens on every interface.
func defaultOrigin(addr net.Addr, publicHosts []string) string {
	host, port, _ := net.SplitHostPort(addr.String())
	if len(publicHosts) > 0 {
		h := strings.TrimSpace(publicHosts[0])
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(strings.Trim(h, "[]"), port)
		}
		return "http://" + h
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
