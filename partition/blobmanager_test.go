package partition

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/lease"

	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/internal/taskhub"
	"github.com/azdurable/azdurable/storage"
)

// fastBlob shortens the loops; blob leases cannot be shorter than 15 s.
func fastBlob(worker string, partitions int, policies ...policy.Policy) BlobOptions {
	return BlobOptions{
		Options: Options{WorkerID: worker, PartitionCount: partitions, SafetyMargin: 3 * time.Second,
			DrainTimeout: 20 * time.Second, Logger: testLogger().With("test_worker", worker)},
		IntentLease:              15 * time.Second,
		IntentRenewInterval:      time.Second,
		IntentAcquireInterval:    time.Second,
		OwnershipLease:           15 * time.Second,
		OwnershipRenewInterval:   time.Second,
		OwnershipAcquireInterval: 300 * time.Millisecond,
		OperationTimeout:         5 * time.Second,
		Client:                   &storage.ClientOptions{PerRetryPolicies: policies},
	}
}

var uuidText = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// leasesAgree reports whether every partition's intent and ownership
// leases are held, with bodies that name the manager dequeuing from it.
func leasesAgree(ctx context.Context, blobs *azblob.Client, names taskhub.Names, owner map[string]string) (bool, error) {
	ls, err := ReadLeases(ctx, blobs, names.TaskHub())
	if err != nil {
		return false, err
	}
	for _, l := range ls {
		if !l.Leased || l.Owner != owner[l.PartitionID] || !uuidText.MatchString(l.Token) || l.Epoch < 1 {
			return false, nil
		}
	}
	return len(ls) == 2*len(owner), nil
}

// The same scenario as the table managers' test, for the safe blob-lease
// manager: a 3/3/2 split, a graceful stop handing over to the other two
// (4/4), a manager whose storage calls fail losing its partitions to the
// last one after its leases expire, no partition dequeued by two managers
// at once, and lease bodies naming the owner with a current Token.
func TestBlobManagersBalanceHandOverAndExpiry(t *testing.T) {
	acct := azuritetest.Account(t)
	names := taskhub.MustNames(azuritetest.NewHub(t))
	parts := names.ControlQueues(8)
	blobs, err := acct.BlobService(nil)
	if err != nil {
		t.Fatal(err)
	}
	tl := &timeline{}
	fault := map[string]*faults{}
	ms := map[string]Manager{}
	for _, id := range []string{"go-a", "go-b", "go-c"} {
		fault[id] = &faults{}
		m, err := NewBlobManager(acct, names.TaskHub(), fastBlob(id, 8, fault[id]))
		if err != nil {
			t.Fatal(err)
		}
		ms[id] = m
	}
	t.Cleanup(func() {
		for id, m := range ms {
			fault[id].on.Store(false)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_ = m.Stop(ctx)
			cancel()
		}
	})
	for _, id := range []string{"go-a", "go-b", "go-c"} {
		if err := ms[id].Start(t.Context(), tl.listener(id)); err != nil {
			t.Fatal(err)
		}
	}
	waitSplit := func(what string, live map[string]Manager, want []int) {
		t.Helper()
		azuritetest.WaitFor(t, 3*time.Minute, what, func() (bool, error) {
			got, err := split(live, parts)
			if err != nil || !slices.Equal(got, want) {
				return false, err
			}
			owner, _ := ownersOf(live)
			return leasesAgree(t.Context(), blobs, names, owner)
		})
	}

	waitSplit("a balanced 3/3/2 split", ms, []int{2, 3, 3})
	tl.checkNoOverlap(t)

	stopped := "go-a"
	for id, m := range ms {
		if len(m.Owned()) == 3 {
			stopped = id
			break
		}
	}
	stopWithin(t, ms[stopped], 2*time.Minute)
	live := map[string]Manager{}
	for id, m := range ms {
		if id != stopped {
			live[id] = m
		}
	}
	waitSplit("a 4/4 split after a graceful stop", live, []int{4, 4})
	if kinds := tl.stopKinds(t, stopped); kinds["lost"] != 0 || kinds["drain"] == 0 {
		t.Errorf("%s stopped dequeuing by %v; want only Drain", stopped, kinds)
	}
	tl.checkNoOverlap(t)

	var frozen, survivor string
	for id := range live {
		if frozen == "" {
			frozen = id
		} else {
			survivor = id
		}
	}
	fault[frozen].on.Store(true)
	azuritetest.WaitFor(t, 3*time.Minute, "the survivor owning all 8 after the frozen one's leases expired", func() (bool, error) {
		got, err := split(live, parts)
		if err != nil || !slices.Equal(got, []int{0, 8}) || len(live[survivor].Owned()) != 8 {
			return false, err
		}
		ls, err := ReadLeases(t.Context(), blobs, names.TaskHub())
		if err != nil {
			return false, err
		}
		for _, l := range ls {
			if !l.Leased || l.Owner != survivor {
				return false, nil
			}
		}
		return true, nil
	})
	tl.checkNoOverlap(t)

	fault[frozen].on.Store(false)
	stopWithin(t, live[frozen], 2*time.Minute)
	stopWithin(t, live[survivor], 2*time.Minute)
	ls, err := ReadLeases(t.Context(), blobs, names.TaskHub())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if l.Leased || l.Owner != "" || l.Token != "" {
			t.Errorf("after every manager stopped: %+v", l)
		}
	}
	tl.checkNoOverlap(t)
	if deq := tl.dequeuing(t); len(deq) != 0 {
		t.Errorf("still dequeuing after Stop: %v", deq)
	}
}

// A C# worker steals an intent lease by Change Lease from the Token in the
// blob body. Done by hand here: the Go manager drains the partition (no
// Lost), writes the released ownership body (Owner and Token null, Epoch
// kept) and releases the ownership lease, which the thief then acquires.
func TestBlobManagerYieldsToCSharpStyleSteal(t *testing.T) {
	acct := azuritetest.Account(t)
	names := taskhub.MustNames(azuritetest.NewHub(t))
	blobs, err := acct.BlobService(nil)
	if err != nil {
		t.Fatal(err)
	}
	tl := &timeline{}
	m, err := NewBlobManager(acct, names.TaskHub(), fastBlob("go-w", 2))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(t.Context(), tl.listener("go-w")); err != nil {
		t.Fatal(err)
	}
	defer stopWithin(t, m, 2*time.Minute)
	parts := names.ControlQueues(2)
	azuritetest.WaitFor(t, 3*time.Minute, "both partitions owned", func() (bool, error) {
		return slices.Equal(m.Owned(), parts), nil
	})
	cc := blobs.ServiceClient().NewContainerClient(names.LeasesContainer())
	readBody := func(kind string) BlobLease {
		t.Helper()
		s := &leaseSet{kind: kind, cc: cc, timeout: 10 * time.Second}
		l, err := s.read(t.Context(), parts[0])
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	intent := readBody(LeaseIntent)
	ownedEpoch := readBody(LeaseOwnership).Epoch

	// Steal the intent lease exactly as C# does.
	thief := "0badc0de-0000-4000-8000-000000000001"
	lc, err := lease.NewBlobClient(cc.NewBlockBlobClient(LeaseIntent+"/"+parts[0]), &lease.BlobClientOptions{LeaseID: to.Ptr(intent.Token)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lc.ChangeLease(t.Context(), thief, nil); err != nil {
		t.Fatalf("Change Lease from the body's Token: %v", err)
	}
	body, _ := LeaseBody{PartitionID: parts[0], Owner: "cs-thief", Token: thief, Epoch: intent.Epoch + 1}.MarshalJSON()
	if _, err := cc.NewBlockBlobClient(LeaseIntent+"/"+parts[0]).Upload(t.Context(), readSeekCloser(body), &blockblob.UploadOptions{
		AccessConditions: &blob.AccessConditions{LeaseAccessConditions: &blob.LeaseAccessConditions{LeaseID: to.Ptr(thief)}},
	}); err != nil {
		t.Fatal(err)
	}
	// Keep the stolen intent renewed, as the thief would.
	keep, stop := context.WithCancel(t.Context())
	defer stop()
	go func() {
		for sleep(keep, time.Second, nil) {
			_, _ = lc.RenewLease(keep, nil)
		}
	}()

	azuritetest.WaitFor(t, 3*time.Minute, "the ownership lease released", func() (bool, error) {
		l := readBody(LeaseOwnership)
		return !l.Leased, nil
	})
	released := readBody(LeaseOwnership)
	if released.Owner != "" || released.Token != "" || released.Epoch != ownedEpoch {
		t.Errorf("released ownership body %+v, want no owner, no token, epoch %d", released.LeaseBody, ownedEpoch)
	}
	if got := m.Owned(); !slices.Equal(got, parts[1:]) {
		t.Errorf("owned %v after the steal, want %v", got, parts[1:])
	}
	if kinds := tl.stopKinds(t, "go-w"); kinds["drain"] != 1 || kinds["lost"] != 0 {
		t.Errorf("the steal ended dequeuing by %v, want one Drain", kinds)
	}
	olc, err := lease.NewBlobClient(cc.NewBlockBlobClient(LeaseOwnership+"/"+parts[0]), &lease.BlobClientOptions{LeaseID: to.Ptr(thief)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := olc.AcquireLease(t.Context(), 15, nil); err != nil {
		t.Fatalf("the thief cannot take ownership: %v", err)
	}
	stop()
	_, _ = olc.ReleaseLease(context.Background(), nil)
	_, _ = lc.ReleaseLease(context.Background(), nil)
}

// CreateLeaseStore writes the container, taskhub.json and the lease blobs
// in the vectors' shapes, replaces a stale taskhub.json, and leaves existing
// lease blobs alone.
func TestCreateLeaseStore(t *testing.T) {
	acct := azuritetest.Account(t)
	hub := azuritetest.NewHub(t)
	names := taskhub.MustNames(hub)
	blobs, err := acct.BlobService(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ReadTaskHubInfo(t.Context(), blobs, names.TaskHub()); !errorsIs(err, ErrNoTaskHubInfo) {
		t.Fatalf("ReadTaskHubInfo before creation: %v", err)
	}
	if err := CreateLeaseStore(t.Context(), blobs, names.TaskHub(), 4, testLogger()); err != nil {
		t.Fatal(err)
	}
	cc := blobs.ServiceClient().NewContainerClient(names.LeasesContainer())
	raw, err := download(t.Context(), cc.NewBlobClient(TaskHubInfoBlob))
	if err != nil {
		t.Fatal(err)
	}
	ms := members(t, raw)
	if len(ms) != 3 || ms[0].Name != "TaskHubName" || ms[1].Name != "CreatedAt" || ms[2].Name != "PartitionCount" ||
		string(ms[0].Raw) != `"`+hub+`"` || string(ms[2].Raw) != "4" ||
		!regexp.MustCompile(`^"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,7})?Z"$`).Match(ms[1].Raw) {
		t.Errorf("taskhub.json %s", raw)
	}
	for _, kind := range []string{LeaseIntent, LeaseOwnership} {
		for _, p := range names.ControlQueues(4) {
			raw, err := download(t.Context(), cc.NewBlobClient(kind+"/"+p))
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf(`{"PartitionId":%q,"Owner":null,"Token":null,"Epoch":0}`, p); string(raw) != want {
				t.Errorf("%s/%s = %s, want %s", kind, p, raw, want)
			}
		}
	}

	// A stale taskhub.json is overwritten; a lease blob is not.
	stale, _ := TaskHubInfo{TaskHubName: "Other", CreatedAt: time.Now(), PartitionCount: 2}.MarshalJSON()
	if _, err := cc.NewBlockBlobClient(TaskHubInfoBlob).Upload(t.Context(), readSeekCloser(stale), nil); err != nil {
		t.Fatal(err)
	}
	used, _ := LeaseBody{PartitionID: names.ControlQueue(0), Epoch: 5}.MarshalJSON()
	if _, err := cc.NewBlockBlobClient(LeaseIntent+"/"+names.ControlQueue(0)).Upload(t.Context(), readSeekCloser(used), nil); err != nil {
		t.Fatal(err)
	}
	if err := CreateLeaseStore(t.Context(), blobs, names.TaskHub(), 4, testLogger()); err != nil {
		t.Fatal(err)
	}
	info, err := ReadTaskHubInfo(t.Context(), blobs, names.TaskHub())
	if err != nil || info.TaskHubName != hub || info.PartitionCount != 4 {
		t.Errorf("after the stale check: %+v, %v", info, err)
	}
	if raw, _ := download(t.Context(), cc.NewBlobClient(LeaseIntent+"/"+names.ControlQueue(0))); string(raw) != string(used) {
		t.Errorf("existing lease blob overwritten: %s", raw)
	}
}

func TestBlobOptionsValidation(t *testing.T) {
	acct := azuritetest.Account(t)
	for _, o := range []BlobOptions{
		{IntentLease: 10 * time.Second},
		{OwnershipLease: 90 * time.Second},
		{OwnershipLease: 15500 * time.Millisecond},
		{Options: Options{SafetyMargin: 20 * time.Second}},
		{IntentAcquireInterval: -time.Second},
	} {
		if _, err := NewBlobManager(acct, "ValidHub", o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
}
