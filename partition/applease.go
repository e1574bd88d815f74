package partition

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/lease"

	"github.com/azdurable/azdurable/internal/netjson"
	"github.com/azdurable/azdurable/internal/taskhub"
	"github.com/azdurable/azdurable/storage"
)

// C#'s app lease timing (AppLeaseOptions).
const (
	DefaultAppLeaseDuration        = 60 * time.Second
	DefaultAppLeaseRenewInterval   = 25 * time.Second
	DefaultAppLeaseAcquireInterval = 300 * time.Second
	// DefaultAppLeaseWaitWarnInterval is how often a worker that waits for
	// an app lease held by another app says so at WARN.
	DefaultAppLeaseWaitWarnInterval = time.Minute
)

// LeaseIDForApp returns the app lease id of an application, as C# derives
// it: the FNV-1a 32-bit hash of the UTF-8 app name as 8 lower-case hex
// digits, followed by -0000-0000-0000-000000000000. Every worker of one app
// computes the same id and so shares the lease.
func LeaseIDForApp(appName string) string {
	return fmt.Sprintf("%08x-0000-0000-0000-000000000000", taskhub.Hash(appName))
}

// DefaultAppName returns the app name C# uses when none is configured:
// $WEBSITE_SITE_NAME, else $DTFX_APP_NAME, else "".
func DefaultAppName() string {
	if v := os.Getenv("WEBSITE_SITE_NAME"); v != "" {
		return v
	}
	return os.Getenv("DTFX_APP_NAME")
}

// AppLeaseInfo is the content of the <hub>-appleaseinfo blob:
// {"OwnerId":…,"DesiredSwapId":…}, initially {}.
type AppLeaseInfo struct {
	// OwnerID is the lease id of the app holding the lease.
	OwnerID string
	// DesiredSwapID is the lease id of an app that asked to take over.
	DesiredSwapID string
}

// MarshalJSON writes the info as C# does (nulls written).
func (i AppLeaseInfo) MarshalJSON() ([]byte, error) {
	w := netjson.NewWriter(nil)
	w.BeginObject()
	for _, m := range []struct{ name, v string }{{"OwnerId", i.OwnerID}, {"DesiredSwapId", i.DesiredSwapID}} {
		w.Key(m.name)
		if m.v == "" {
			w.Null()
		} else {
			w.String(m.v)
		}
	}
	w.EndObject()
	return w.Bytes(), nil
}

// UnmarshalJSON reads the info as Newtonsoft would; {} is the empty info.
func (i *AppLeaseInfo) UnmarshalJSON(data []byte) error {
	o, err := netjson.ParseObject(bytes.TrimPrefix(data, utf8BOM))
	if err != nil {
		return fmt.Errorf("app lease info: %w", err)
	}
	var out AppLeaseInfo
	if out.OwnerID, err = o.String("OwnerId"); err != nil {
		return fmt.Errorf("app lease info: %w", err)
	}
	if out.DesiredSwapID, err = o.String("DesiredSwapId"); err != nil {
		return fmt.Errorf("app lease info: %w", err)
	}
	*i = out
	return nil
}

// CreateAppLeaseStore creates the <hub>-applease container and, with
// If-None-Match: *, its info blob holding {}. C# does this at every hub
// creation, whether the app lease is used or not.
func CreateAppLeaseStore(ctx context.Context, blobs *azblob.Client, taskHub string) error {
	names, err := taskhub.NewNames(taskHub)
	if err != nil {
		return err
	}
	cc := blobs.ServiceClient().NewContainerClient(names.AppLeaseContainer())
	if err := createContainer(ctx, cc); err != nil {
		return fmt.Errorf("%s: %w", names.AppLeaseContainer(), err)
	}
	if err := uploadIfAbsent(ctx, cc.NewBlockBlobClient(names.AppLeaseInfoBlob()), []byte("{}")); err != nil {
		return fmt.Errorf("create %s: %w", names.AppLeaseInfoBlob(), err)
	}
	return nil
}

// ReadAppLeaseInfo reads the app lease info blob.
func ReadAppLeaseInfo(ctx context.Context, blobs *azblob.Client, taskHub string) (AppLeaseInfo, error) {
	names, err := taskhub.NewNames(taskHub)
	if err != nil {
		return AppLeaseInfo{}, err
	}
	return readAppLeaseInfo(ctx, blobs.ServiceClient().NewContainerClient(names.AppLeaseContainer()).NewBlockBlobClient(names.AppLeaseInfoBlob()))
}

func readAppLeaseInfo(ctx context.Context, bb *blockblob.Client) (AppLeaseInfo, error) {
	data, err := download(ctx, bb.BlobClient())
	if err != nil {
		return AppLeaseInfo{}, fmt.Errorf("read app lease info: %w", err)
	}
	var info AppLeaseInfo
	err = info.UnmarshalJSON(data)
	return info, err
}

// AppLeaseOptions configure an [AppLease]. Zero fields take C#'s values.
type AppLeaseOptions struct {
	// LeaseDuration of the container lease (60 s; 15..60 s).
	LeaseDuration time.Duration
	// RenewInterval between renewals (25 s).
	RenewInterval time.Duration
	// AcquireInterval between acquisition attempts while another app holds
	// the lease (300 s).
	AcquireInterval time.Duration
	// OperationTimeout bounds each storage call (10 s).
	OperationTimeout time.Duration
	// WaitWarnInterval is how often Acquire logs at WARN, while another
	// app holds the lease, which app that is and how to join it (1 min).
	WaitWarnInterval time.Duration
	Logger           *slog.Logger
	// Client adjusts the blob client's pipeline. nil means the SDK defaults.
	Client *storage.ClientOptions
}

// AppLease is the app lease of one application on one hub: a lease on the
// <hub>-applease container whose id is derived from the app name, so that
// only workers of one application run partition managers at a time, while
// any number of workers of that application (C# or Go) share it. Create it
// with [NewAppLease]; a process holds it from a successful Acquire until
// Stop, Release, or loss.
type AppLease struct {
	names   taskhub.Names
	appName string
	id      string
	opts    AppLeaseOptions
	log     *slog.Logger
	cc      *container.Client
	info    *blockblob.Client

	mu      sync.Mutex
	held    bool
	lost    chan struct{}
	lostErr error
	stop    context.CancelFunc
	done    chan struct{}
	// holder is the lease id the info blob named when the last attempt
	// found the lease held by another app ("" if unknown).
	holder string
}

// NewAppLease returns the app lease of appName on the task hub taskHub.
// Pass [DefaultAppName] to behave like C#; workers joining a C# app's hub
// must use that app's name (or the C# side must disable its app lease).
func NewAppLease(acct *storage.Account, taskHub string, appName string, opts AppLeaseOptions) (*AppLease, error) {
	names, err := taskhub.NewNames(taskHub)
	if err != nil {
		return nil, err
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&opts.LeaseDuration, DefaultAppLeaseDuration)
	def(&opts.RenewInterval, DefaultAppLeaseRenewInterval)
	def(&opts.AcquireInterval, DefaultAppLeaseAcquireInterval)
	def(&opts.OperationTimeout, DefaultBlobOperationTimeout)
	def(&opts.WaitWarnInterval, DefaultAppLeaseWaitWarnInterval)
	if opts.LeaseDuration < 15*time.Second || opts.LeaseDuration > 60*time.Second || opts.LeaseDuration%time.Second != 0 {
		return nil, fmt.Errorf("partition: app lease duration %v is not a whole number of seconds in 15s..60s", opts.LeaseDuration)
	}
	if opts.RenewInterval <= 0 || opts.RenewInterval >= opts.LeaseDuration || opts.AcquireInterval < 0 {
		return nil, errors.New("partition: the app lease renew interval must be positive and shorter than the lease")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	blobs, err := acct.BlobService(opts.Client)
	if err != nil {
		return nil, err
	}
	cc := blobs.ServiceClient().NewContainerClient(names.AppLeaseContainer())
	id := LeaseIDForApp(appName)
	return &AppLease{
		names: names, appName: appName, id: id, opts: opts, cc: cc,
		info: cc.NewBlockBlobClient(names.AppLeaseInfoBlob()),
		log:  opts.Logger.With("hub", names.TaskHub(), "app", appName, "app_lease", id),
		lost: make(chan struct{}),
	}, nil
}

// ID returns this app's lease id.
func (a *AppLease) ID() string { return a.id }

// AppName returns the app name the id was derived from.
func (a *AppLease) AppName() string { return a.appName }

// ErrAppLeaseLost is wrapped by [AppLease.Err] once another app has taken
// the lease. A lost AppLease stays lost: make a new one to try again.
var ErrAppLeaseLost = errors.New("partition: the app lease is held by another app now")

// Lost returns a channel that is closed when a renewal is refused with 409
// or 412: another app holds the lease now, and this process must stop its
// partition manager. Err then says why.
func (a *AppLease) Lost() <-chan struct{} { return a.lost }

// Err returns why the lease was lost, or nil.
func (a *AppLease) Err() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lostErr
}

// Held reports whether this process holds the lease (acquired, not lost,
// not stopped).
func (a *AppLease) Held() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.held
}

// Acquire blocks until this app holds the lease, retrying every
// AcquireInterval while another app holds it, or until ctx ends. Once held
// the lease is renewed in the background until Stop, Release or loss.
// While another app holds it, Acquire says so at WARN every
// WaitWarnInterval (see [AppLease.WaitingMessage]).
func (a *AppLease) Acquire(ctx context.Context) error {
	var nextWarn time.Time
	for {
		ok, err := a.TryAcquire(ctx)
		if ok {
			return nil
		}
		held := false
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, ErrAppLeaseLost) {
				return err
			}
			a.log.Warn("partition: app lease acquisition failed; retrying", "error", errSummary(err), "retry_in", a.opts.AcquireInterval)
		} else {
			held = true
		}
		// Wait for the next attempt, repeating the warning meanwhile.
		attempt := time.Now().Add(a.opts.AcquireInterval)
		for {
			now := time.Now()
			if held && !now.Before(nextWarn) {
				a.log.Warn(a.WaitingMessage(), "holder_lease", a.Holder(), "retry_in", a.opts.AcquireInterval)
				nextWarn = now.Add(a.opts.WaitWarnInterval)
			}
			wait := attempt.Sub(now)
			if held {
				wait = min(wait, nextWarn.Sub(now))
			}
			if wait <= 0 {
				break
			}
			if !sleep(ctx, wait, nil) {
				return ctx.Err()
			}
			if !time.Now().Before(attempt) {
				break
			}
		}
	}
}

// Holder returns the lease id of the app that held the lease at the last
// attempt that found it held by another app, as the info blob names it
// ("" if it names none, or names this app although another app holds the
// lease).
func (a *AppLease) Holder() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.holder
}

// WaitingMessage says, for a person, that another app holds the lease,
// which app that is (its name when [AppNameOf] finds it among
// [AppNameCandidates], else its lease id), this app's name, and how to
// join the holder: the same app name for every worker of the hub
// (azdurable worker: --app-name).
func (a *AppLease) WaitingMessage() string {
	return appLeaseWaitingMessage(a.names.TaskHub(), a.appName, a.Holder())
}

func appLeaseWaitingMessage(hub, appName, holder string) string {
	var other, fix string
	candidates := AppNameCandidates()
	switch name, ok := AppNameOf(holder, candidates...); {
	case ok:
		other = fmt.Sprintf("app %q (lease %s)", name, holder)
		fix = "--app-name " + quoteArg(name)
	case holder == "":
		other = "another app (the lease info blob does not say which)"
		fix = "--app-name <that app's name>"
	default:
		quoted := make([]string, len(candidates))
		for i, c := range candidates {
			quoted[i] = strconv.Quote(c)
		}
		other = fmt.Sprintf("another app (lease %s, which is not the lease of app %s)", holder, strings.Join(quoted, " or "))
		fix = "--app-name <that app's name>"
	}
	return fmt.Sprintf("partition: this worker (app %q, lease %s) waits for the app lease of task hub %s, held by %s: "+
		"it takes no partitions and runs no orchestrations until that app's workers stop. Every worker of a hub, C# and Go, "+
		"must use the same app name (C# takes it from WEBSITE_SITE_NAME, else DTFX_APP_NAME): to join that app, run this worker with %s",
		appName, LeaseIDForApp(appName), hub, other, fix)
}

// quoteArg quotes an app name for a shell command line when it needs it.
func quoteArg(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// AppNameOf returns the name among candidates whose app lease id
// ([LeaseIDForApp]) is leaseID. The id is a hash of the name, so only a
// name one can guess can be found.
func AppNameOf(leaseID string, candidates ...string) (string, bool) {
	if leaseID == "" {
		return "", false
	}
	for _, c := range candidates {
		if strings.EqualFold(LeaseIDForApp(c), leaseID) {
			return c, true
		}
	}
	return "", false
}

// AppNameCandidates returns the app names a process can check a lease id
// against without being told: C#'s default in this environment
// ([DefaultAppName]) and the empty name (C#'s default where neither
// variable is set), followed by extra, without repeats.
func AppNameCandidates(extra ...string) []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range append([]string{DefaultAppName(), ""}, extra...) {
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

// AppLeaseHeld reports whether the app lease container is leased now (by
// any app).
func AppLeaseHeld(ctx context.Context, blobs *azblob.Client, taskHub string) (bool, error) {
	names, err := taskhub.NewNames(taskHub)
	if err != nil {
		return false, err
	}
	p, err := blobs.ServiceClient().NewContainerClient(names.AppLeaseContainer()).GetProperties(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("read the app lease: %w", err)
	}
	return p.LeaseState != nil && *p.LeaseState == lease.StateTypeLeased, nil
}

// TryAcquire makes one acquisition attempt (tables spec §5.4): if the info
// blob's DesiredSwapId is this app's id, Change Lease from its OwnerId;
// otherwise Acquire Lease with this app's id, which succeeds when nobody or
// this same app holds it. On success the info blob names this app as
// OwnerId (clearing a swap request that was this app's) and renewals
// start. It reports false with a nil error when another app holds the lease.
func (a *AppLease) TryAcquire(ctx context.Context) (bool, error) {
	if a.Held() {
		return true, nil
	}
	if err := a.Err(); err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*a.opts.OperationTimeout)
	defer cancel()
	if err := a.ensureStore(ctx); err != nil {
		return false, err
	}
	info, err := readAppLeaseInfo(ctx, a.info)
	if err != nil {
		return false, err
	}
	swapped := false
	if info.DesiredSwapID == a.id && info.OwnerID != "" && info.OwnerID != a.id {
		lc, err := lease.NewContainerClient(a.cc, &lease.ContainerClientOptions{LeaseID: to.Ptr(info.OwnerID)})
		if err != nil {
			return false, err
		}
		if _, err := lc.ChangeLease(ctx, a.id, nil); err == nil {
			swapped = true
			a.log.Info("partition: took the app lease over by request", "from", info.OwnerID)
		} else {
			a.log.Info("partition: swap by Change Lease failed; trying to acquire", "from", info.OwnerID, "error", errSummary(err))
		}
	}
	if !swapped {
		lc, err := lease.NewContainerClient(a.cc, &lease.ContainerClientOptions{LeaseID: to.Ptr(a.id)})
		if err != nil {
			return false, err
		}
		if _, err := lc.AcquireLease(ctx, int32(a.opts.LeaseDuration/time.Second), nil); err != nil {
			if hasStatus(err, http.StatusConflict) {
				a.mu.Lock()
				a.holder = info.OwnerID
				if strings.EqualFold(a.holder, a.id) {
					a.holder = ""
				}
				a.mu.Unlock()
				return false, nil
			}
			return false, fmt.Errorf("acquire app lease: %w", err)
		}
	}
	next := AppLeaseInfo{OwnerID: a.id, DesiredSwapID: info.DesiredSwapID}
	if next.DesiredSwapID == a.id {
		next.DesiredSwapID = ""
	}
	if info != next {
		body, _ := next.MarshalJSON()
		if _, err := a.info.Upload(ctx, readSeekCloser(body), nil); err != nil {
			return false, fmt.Errorf("write app lease info: %w", err)
		}
	}
	a.startRenewing()
	a.log.Info("partition: app lease acquired")
	return true, nil
}

// RequestSwap asks the app holding the lease to hand it over, by writing
// this app's id as DesiredSwapId; the next Acquire then takes the lease
// with Change Lease, and the old holder's renewal fails (Lost).
func (a *AppLease) RequestSwap(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*a.opts.OperationTimeout)
	defer cancel()
	if err := a.ensureStore(ctx); err != nil {
		return err
	}
	info, err := readAppLeaseInfo(ctx, a.info)
	if err != nil {
		return err
	}
	info.DesiredSwapID = a.id
	body, _ := info.MarshalJSON()
	if _, err := a.info.Upload(ctx, readSeekCloser(body), nil); err != nil {
		return fmt.Errorf("write app lease swap request: %w", err)
	}
	a.log.Info("partition: asked for the app lease", "owner", info.OwnerID)
	return nil
}

// Stop ends the renewals and leaves the lease to expire, as C# does on
// shutdown (other workers of the same app may still be using it).
func (a *AppLease) Stop() {
	a.mu.Lock()
	stop, done := a.stop, a.done
	a.held, a.stop = false, nil
	a.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

// Release ends the renewals and releases the lease at once. Only use it
// when no other worker of this app shares the lease: the release ends it
// for all of them.
func (a *AppLease) Release(ctx context.Context) error {
	a.Stop()
	lc, err := lease.NewContainerClient(a.cc, &lease.ContainerClientOptions{LeaseID: to.Ptr(a.id)})
	if err != nil {
		return err
	}
	if _, err := lc.ReleaseLease(ctx, nil); err != nil && !hasStatus(err, http.StatusConflict, http.StatusPreconditionFailed) {
		return fmt.Errorf("release app lease: %w", err)
	}
	return nil
}

func (a *AppLease) ensureStore(ctx context.Context) error {
	if err := createContainer(ctx, a.cc); err != nil {
		return fmt.Errorf("%s: %w", a.names.AppLeaseContainer(), err)
	}
	if err := uploadIfAbsent(ctx, a.info, []byte("{}")); err != nil {
		return fmt.Errorf("create %s: %w", a.names.AppLeaseInfoBlob(), err)
	}
	return nil
}

func (a *AppLease) startRenewing() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	a.mu.Lock()
	a.held, a.stop, a.done = true, cancel, done
	a.mu.Unlock()
	go a.renewLoop(ctx, done)
}

// renewLoop renews at once (as C# does right after acquiring) and then
// every RenewInterval. Other errors are retried: the lease lasts longer
// than two intervals.
func (a *AppLease) renewLoop(ctx context.Context, done chan struct{}) {
	defer close(done)
	lc, err := lease.NewContainerClient(a.cc, &lease.ContainerClientOptions{LeaseID: to.Ptr(a.id)})
	if err != nil {
		a.markLost(fmt.Errorf("%w: %v", ErrAppLeaseLost, err))
		return
	}
	for {
		rctx, cancel := context.WithTimeout(ctx, a.opts.OperationTimeout)
		_, err := lc.RenewLease(rctx, nil)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case hasStatus(err, http.StatusConflict, http.StatusPreconditionFailed):
			a.markLost(fmt.Errorf("%w: renewal refused (%s)", ErrAppLeaseLost, errSummary(err)))
			return
		case err != nil:
			a.log.Warn("partition: app lease renewal failed; retrying", "error", errSummary(err))
		}
		if !sleep(ctx, a.opts.RenewInterval, nil) {
			return
		}
	}
}

func (a *AppLease) markLost(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.lostErr != nil {
		return
	}
	a.held, a.lostErr = false, err
	a.log.Warn("partition: app lease lost; the partition manager must stop", "error", err)
	close(a.lost)
}
