package partition

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/lease"

	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/internal/syncbuf"
	"github.com/azdurable/azdurable/internal/taskhub"
	"github.com/azdurable/azdurable/storage"
)

func TestLeaseIDForApp(t *testing.T) {
	var v struct {
		AppLeaseID []struct {
			AppName, Fnv1a32Hex, LeaseID string
		} `json:"appLeaseId"`
	}
	if err := json.Unmarshal(readTestdata(t, "azstorage-naming-and-hashing.json"), &v); err != nil {
		t.Fatal(err)
	}
	if len(v.AppLeaseID) < 3 {
		t.Fatalf("%d appLeaseId vectors", len(v.AppLeaseID))
	}
	v.AppLeaseID = append(v.AppLeaseID, struct{ AppName, Fnv1a32Hex, LeaseID string }{"cscapture", "b0f7794b", "b0f7794b-0000-0000-0000-000000000000"})
	for _, c := range v.AppLeaseID {
		if got := LeaseIDForApp(c.AppName); got != c.LeaseID || !strings.HasPrefix(got, c.Fnv1a32Hex) {
			t.Errorf("LeaseIDForApp(%q) = %s, want %s", c.AppName, got, c.LeaseID)
		}
	}
}

func TestDefaultAppName(t *testing.T) {
	t.Setenv("WEBSITE_SITE_NAME", "")
	t.Setenv("DTFX_APP_NAME", "")
	if got := DefaultAppName(); got != "" {
		t.Errorf("no variables: %q", got)
	}
	t.Setenv("DTFX_APP_NAME", "dtfx")
	if got := DefaultAppName(); got != "dtfx" {
		t.Errorf("DTFX_APP_NAME only: %q", got)
	}
	t.Setenv("WEBSITE_SITE_NAME", "site")
	if got := DefaultAppName(); got != "site" {
		t.Errorf("both: %q", got)
	}
}

func TestAppLeaseInfoJSON(t *testing.T) {
	v := leaseVectors(t)
	for _, name := range []string{"appLeaseInfoOwned", "appLeaseInfoSwapRequested"} {
		want := compact(t, v[name])
		var i AppLeaseInfo
		if err := json.Unmarshal(want, &i); err != nil {
			t.Fatal(err)
		}
		if got, _ := json.Marshal(i); string(got) != string(want) {
			t.Errorf("%s: %s, want %s", name, got, want)
		}
	}
	var empty AppLeaseInfo
	if err := json.Unmarshal(compact(t, v["appLeaseInfoInitial"]), &empty); err != nil || empty != (AppLeaseInfo{}) {
		t.Errorf("{} decoded as %+v, %v", empty, err)
	}
}

// breakAppLease registers a cleanup (run before the hub's deletion) that
// breaks the container lease, which would otherwise block deleting it.
func breakAppLease(t *testing.T, acct *storage.Account, names taskhub.Names) {
	t.Cleanup(func() {
		blobs, err := acct.BlobService(nil)
		if err != nil {
			return
		}
		lc, err := lease.NewContainerClient(blobs.ServiceClient().NewContainerClient(names.AppLeaseContainer()), nil)
		if err == nil {
			_, _ = lc.BreakLease(context.Background(), &lease.ContainerBreakOptions{BreakPeriod: to.Ptr(int32(0))})
		}
	})
}

func fastAppLease() AppLeaseOptions {
	return AppLeaseOptions{RenewInterval: 200 * time.Millisecond, AcquireInterval: 200 * time.Millisecond, Logger: testLogger()}
}

// Two processes of one app (the C# capture's app name) both hold the lease;
// the info blob is byte for byte what C# wrote; another app is refused
// while the lease is held; it takes the lease over by DesiredSwapId, and
// both holders of the old app then see their renewal refused (Lost).
func TestAppLeaseSharingRefusalAndSwap(t *testing.T) {
	acct := azuritetest.Account(t)
	names := taskhub.MustNames(azuritetest.NewHub(t))
	breakAppLease(t, acct, names)
	blobs, err := acct.BlobService(nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{filter: names.AppLeaseContainer()}
	newLease := func(app string, rec *recorder) *AppLease {
		o := fastAppLease()
		if rec != nil {
			o.Client = &storage.ClientOptions{PerRetryPolicies: []policy.Policy{rec}}
		}
		a, err := NewAppLease(acct, names.TaskHub(), app, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.Stop)
		return a
	}

	if err := CreateAppLeaseStore(t.Context(), blobs, names.TaskHub()); err != nil {
		t.Fatal(err)
	}
	raw, err := download(t.Context(), blobs.ServiceClient().NewContainerClient(names.AppLeaseContainer()).NewBlobClient(names.AppLeaseInfoBlob()))
	if err != nil || string(raw) != "{}" {
		t.Fatalf("initial info blob %q, %v", raw, err)
	}

	a1, a2 := newLease("cscapture", rec), newLease("cscapture", nil)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	for _, a := range []*AppLease{a1, a2} {
		if err := a.Acquire(ctx); err != nil {
			t.Fatalf("same app name: %v", err)
		}
	}
	if !a1.Held() || !a2.Held() || a1.ID() != "b0f7794b-0000-0000-0000-000000000000" {
		t.Fatalf("held %v %v, id %s", a1.Held(), a2.Held(), a1.ID())
	}
	var csInfo struct {
		ContentText string `json:"content_text"`
	}
	if err := json.Unmarshal(readTestdata(t, "csharp/blobs/cshub-applease/cshub-appleaseinfo.json"), &csInfo); err != nil {
		t.Fatal(err)
	}
	raw, _ = download(t.Context(), blobs.ServiceClient().NewContainerClient(names.AppLeaseContainer()).NewBlobClient(names.AppLeaseInfoBlob()))
	if string(raw) != csInfo.ContentText {
		t.Errorf("info blob %s, C# wrote %s", raw, csInfo.ContentText)
	}
	// The calls match C#'s: a 60 s container lease proposed with the app's
	// id, the info blob written without a lease, and a renewal with the id.
	var acquire, renew, put bool
	for _, c := range rec.snapshot() {
		switch {
		case c.header["X-Ms-Lease-Action"] == "acquire":
			acquire = c.header["X-Ms-Lease-Duration"] == "60" && c.header["X-Ms-Proposed-Lease-Id"] == a1.ID()
		case c.header["X-Ms-Lease-Action"] == "renew":
			renew = renew || c.header["X-Ms-Lease-Id"] == a1.ID()
		case c.method == "PUT" && strings.HasSuffix(c.path, "/"+names.AppLeaseInfoBlob()) && string(c.body) == csInfo.ContentText:
			put = c.leaseID == ""
		}
	}
	azuritetest.WaitFor(t, 3*time.Minute, "a renewal", func() (bool, error) {
		for _, c := range rec.snapshot() {
			if c.header["X-Ms-Lease-Action"] == "renew" && c.header["X-Ms-Lease-Id"] == a1.ID() && c.status == 200 {
				return true, nil
			}
		}
		return false, nil
	})
	if !acquire || !put {
		t.Errorf("acquire as C# %v, info written as C# %v (renew seen %v)", acquire, put, renew)
	}

	other := newLease("otherapp", nil)
	if ok, err := other.TryAcquire(t.Context()); ok || err != nil {
		t.Fatalf("another app while the lease is held: %v, %v", ok, err)
	}
	if err := other.RequestSwap(t.Context()); err != nil {
		t.Fatal(err)
	}
	if info, err := ReadAppLeaseInfo(t.Context(), blobs, names.TaskHub()); err != nil || info != (AppLeaseInfo{OwnerID: a1.ID(), DesiredSwapID: other.ID()}) {
		t.Fatalf("after the swap request: %+v, %v", info, err)
	}
	if err := other.Acquire(ctx); err != nil {
		t.Fatalf("swap: %v", err)
	}
	if info, err := ReadAppLeaseInfo(t.Context(), blobs, names.TaskHub()); err != nil || info != (AppLeaseInfo{OwnerID: other.ID()}) {
		t.Fatalf("after the swap: %+v, %v", info, err)
	}
	for i, a := range []*AppLease{a1, a2} {
		select {
		case <-a.Lost():
		case <-ctx.Done():
			t.Fatalf("holder %d of the old app did not see the loss", i+1)
		}
		if !errors.Is(a.Err(), ErrAppLeaseLost) || a.Held() {
			t.Errorf("holder %d: err %v, held %v", i+1, a.Err(), a.Held())
		}
		if err := a.Acquire(ctx); !errors.Is(err, ErrAppLeaseLost) {
			t.Errorf("re-acquire of a lost lease: %v", err)
		}
	}
	// The old app is now the one refused.
	again := newLease("cscapture", nil)
	if ok, err := again.TryAcquire(t.Context()); ok || err != nil {
		t.Errorf("old app after the swap: %v, %v", ok, err)
	}
	if !other.Held() {
		t.Error("the new holder lost the lease")
	}
	if err := other.Release(t.Context()); err != nil {
		t.Fatal(err)
	}
	if ok, err := again.TryAcquire(t.Context()); !ok || err != nil {
		t.Errorf("after Release: %v, %v", ok, err)
	}
}

// A worker that waits for an app lease held by another app says so at
// WARN, repeatedly, naming both apps (the holder by name when it is one
// the worker can check, else by lease id) and the flag that joins them.
func TestAppLeaseWaitIsWarned(t *testing.T) {
	acct := azuritetest.Account(t)
	names := taskhub.MustNames(azuritetest.NewHub(t))
	breakAppLease(t, acct, names)
	t.Setenv("WEBSITE_SITE_NAME", "")
	t.Setenv("DTFX_APP_NAME", "")

	holder, err := NewAppLease(acct, names.TaskHub(), "cscapture", fastAppLease())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(holder.Stop)
	if ok, err := holder.TryAcquire(t.Context()); !ok || err != nil {
		t.Fatalf("first app: %v %v", ok, err)
	}
	for _, tc := range []struct {
		name, env string
		want      []string
	}{
		// Without a hint the holder's name cannot be known: its lease id is
		// given, with the names that were checked.
		{"unknown holder", "", []string{`held by another app (lease b0f7794b-0000-0000-0000-000000000000, which is not the lease of app "")`,
			`this worker (app "goapp", lease ` + LeaseIDForApp("goapp") + ")", "--app-name <that app's name>"}},
		// The C# default for this environment names the holder.
		{"known holder", "cscapture", []string{`held by app "cscapture" (lease b0f7794b-0000-0000-0000-000000000000)`,
			`this worker (app "goapp"`, "run this worker with --app-name cscapture"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("DTFX_APP_NAME", tc.env)
			logs := &syncbuf.Buffer{}
			o := AppLeaseOptions{RenewInterval: 200 * time.Millisecond, AcquireInterval: time.Hour, WaitWarnInterval: 100 * time.Millisecond,
				Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))}
			waiter, err := NewAppLease(acct, names.TaskHub(), "goapp", o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(waiter.Stop)
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- waiter.Acquire(ctx) }()
			// The warning repeats while the next attempt is an hour away.
			azuritetest.WaitFor(t, 2*time.Minute, "two warnings", func() (bool, error) {
				return strings.Count(logs.String(), "level=WARN") >= 2, nil
			})
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("Acquire returned %v", err)
			}
			line, _, _ := strings.Cut(logs.String(), "\n")
			for _, w := range tc.want {
				if !strings.Contains(line, strconv.Quote(w)[1:len(strconv.Quote(w))-1]) {
					t.Errorf("the warning lacks %q:\n%s", w, line)
				}
			}
			if waiter.Held() || waiter.Holder() != holder.ID() {
				t.Errorf("held %v, holder %q", waiter.Held(), waiter.Holder())
			}
		})
	}
}

func TestAppNameOf(t *testing.T) {
	t.Setenv("WEBSITE_SITE_NAME", "")
	t.Setenv("DTFX_APP_NAME", "site")
	if got := AppNameCandidates("x", "", "site"); strings.Join(got, ",") != "site,,x" {
		t.Errorf("candidates %q", got)
	}
	if name, ok := AppNameOf(strings.ToUpper(LeaseIDForApp("x")), AppNameCandidates("x")...); !ok || name != "x" {
		t.Errorf("AppNameOf found %q %v", name, ok)
	}
	if name, ok := AppNameOf("811c9dc5-0000-0000-0000-000000000000", "a", ""); !ok || name != "" {
		t.Errorf("the empty name: %q %v", name, ok)
	}
	if _, ok := AppNameOf("", ""); ok {
		t.Error("an empty lease id matched")
	}
	for in, want := range map[string]string{"cscapture": "cscapture", "": "''", "my app": "'my app'", "it's": `'it'\''s'`} {
		if got := quoteArg(in); got != want {
			t.Errorf("quoteArg(%q) = %s, want %s", in, got, want)
		}
	}
}
