package partition

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/lease"
	"github.com/google/uuid"

	"github.com/azdurable/azdurable/internal/taskhub"
)

// BlobLease is one lease blob as read: its body and whether the blob lease
// is currently held by anybody.
type BlobLease struct {
	Type string // LeaseIntent or LeaseOwnership
	LeaseBody
	Leased bool
}

// available reports whether the lease can be acquired: the blob lease is
// not held, or the body names no owner (tables spec §4.3).
func (l BlobLease) available() bool { return !l.Leased || l.Owner == "" }

// balanceLeases is the blob managers' acquire/balance rule (tables spec
// §4.3), a pure function: which available leases to take, and which one
// lease to steal (nil for none). With steal false only available leases
// are taken, all of them.
func balanceLeases(leases []BlobLease, me string, steal bool) (take []BlobLease, victim *BlobLease) {
	counts := map[string]int{me: 0}
	var avail []BlobLease
	for _, l := range leases {
		if l.available() {
			avail = append(avail, l)
			continue
		}
		counts[ownerKey(l.Owner, me)]++
	}
	if !steal {
		return avail, nil
	}
	target := max(1, (len(leases)+len(counts)-1)/len(counts))
	needed := target - counts[me]
	if needed <= 0 {
		return nil, nil
	}
	if len(avail) > 0 {
		return avail[:min(needed, len(avail))], nil
	}
	// Steal one lease from the busiest other worker if it has too many.
	busiest, most := "", 0
	for w, n := range counts {
		if w != me && (n > most || (n == most && w < busiest)) {
			busiest, most = w, n
		}
	}
	limit := target
	if needed > 1 {
		limit--
	}
	if busiest == "" || most <= limit {
		return nil, nil
	}
	for i := range leases {
		if !leases[i].available() && ownerKey(leases[i].Owner, me) == busiest {
			return nil, &leases[i]
		}
	}
	return nil, nil
}

// ownerKey folds the case of an owner equal to me, as C# compares its own
// id case-insensitively.
func ownerKey(owner, me string) string {
	if strings.EqualFold(owner, me) {
		return me
	}
	return owner
}

// errLeaseLost marks a renewal refused because somebody else holds the
// lease now (409 or 412).
var errLeaseLost = errors.New("partition: blob lease lost")

// held is a lease this worker holds.
type held struct {
	token   string
	epoch   int64
	expires time.Time // start of the last successful acquire or renew + duration
}

// leaseSet is one type of lease blobs (intent or ownership) and the leases
// of it this worker holds.
type leaseSet struct {
	kind     string
	cc       *container.Client
	me       string
	duration time.Duration
	timeout  time.Duration // per storage call
	log      *slog.Logger

	mu   sync.Mutex
	held map[string]*held
}

func (s *leaseSet) blob(p string) *blockblob.Client { return s.cc.NewBlockBlobClient(s.kind + "/" + p) }

// list reads every lease blob of this type, sorted by partition.
func (s *leaseSet) list(ctx context.Context) ([]BlobLease, error) {
	prefix := s.kind + "/"
	var out []BlobLease
	pager := s.cc.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &prefix})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s leases: %w", s.kind, err)
		}
		for _, item := range page.Segment.BlobItems {
			if item.Name == nil {
				continue
			}
			l, err := s.read(ctx, strings.TrimPrefix(*item.Name, prefix))
			if hasStatus(err, http.StatusNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			out = append(out, l)
		}
	}
	slices.SortFunc(out, func(a, b BlobLease) int { return cmp.Compare(a.PartitionID, b.PartitionID) })
	return out, nil
}

func (s *leaseSet) read(ctx context.Context, p string) (BlobLease, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	resp, err := s.blob(p).DownloadStream(ctx, nil)
	if err != nil {
		return BlobLease{}, fmt.Errorf("read %s lease %s: %w", s.kind, p, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return BlobLease{}, fmt.Errorf("read %s lease %s: %w", s.kind, p, err)
	}
	l := BlobLease{Type: s.kind, Leased: resp.LeaseState != nil && *resp.LeaseState == lease.StateTypeLeased}
	if err := l.LeaseBody.UnmarshalJSON(data); err != nil {
		return BlobLease{}, fmt.Errorf("%s lease %s: %w", s.kind, p, err)
	}
	if l.PartitionID == "" {
		l.PartitionID = p
	}
	return l, nil
}

// acquire takes l: Change Lease from the body's Token when it is leased (a
// steal), else Acquire Lease; then writes Owner=me, Epoch+1 and the new
// Token under the new lease, so that the next thief can change it in turn.
func (s *leaseSet) acquire(ctx context.Context, l BlobLease) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	p := l.PartitionID
	token := uuid.NewString()
	start := time.Now()
	if l.Leased {
		if l.Token == "" {
			return time.Time{}, fmt.Errorf("%s lease %s is leased but its body has no token", s.kind, p)
		}
		lc, err := lease.NewBlobClient(s.blob(p), &lease.BlobClientOptions{LeaseID: to.Ptr(l.Token)})
		if err != nil {
			return time.Time{}, err
		}
		if _, err := lc.ChangeLease(ctx, token, nil); err != nil {
			return time.Time{}, fmt.Errorf("change %s lease %s: %w", s.kind, p, err)
		}
		// A changed lease keeps the old lease's remaining time; renew it so
		// that the local expiry is known.
		start = time.Now()
		if _, err := lc.RenewLease(ctx, nil); err != nil {
			return time.Time{}, fmt.Errorf("renew changed %s lease %s: %w", s.kind, p, err)
		}
	} else {
		lc, err := lease.NewBlobClient(s.blob(p), &lease.BlobClientOptions{LeaseID: to.Ptr(token)})
		if err != nil {
			return time.Time{}, err
		}
		if _, err := lc.AcquireLease(ctx, int32(s.duration/time.Second), nil); err != nil {
			return time.Time{}, fmt.Errorf("acquire %s lease %s: %w", s.kind, p, err)
		}
	}
	body := LeaseBody{PartitionID: p, Owner: s.me, Token: token, Epoch: l.Epoch + 1}
	if err := s.writeBody(ctx, p, body, token); err != nil {
		s.releaseLease(p, token)
		return time.Time{}, err
	}
	expires := start.Add(s.duration)
	s.mu.Lock()
	s.held[p] = &held{token: token, epoch: body.Epoch, expires: expires}
	s.mu.Unlock()
	return expires, nil
}

// resume takes back a lease whose body names this worker (a restart with
// the same WorkerId): renewing it with the body's Token proves it is still
// ours.
func (s *leaseSet) resume(ctx context.Context, l BlobLease) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	lc, err := lease.NewBlobClient(s.blob(l.PartitionID), &lease.BlobClientOptions{LeaseID: to.Ptr(l.Token)})
	if err != nil {
		return time.Time{}, err
	}
	start := time.Now()
	if _, err := lc.RenewLease(ctx, nil); err != nil {
		return time.Time{}, fmt.Errorf("resume %s lease %s: %w", s.kind, l.PartitionID, err)
	}
	expires := start.Add(s.duration)
	s.mu.Lock()
	s.held[l.PartitionID] = &held{token: l.Token, epoch: l.Epoch, expires: expires}
	s.mu.Unlock()
	return expires, nil
}

// renew renews a held lease. A 409/412 means another worker holds it now:
// it is forgotten and errLeaseLost returned. Other errors leave it held (C#
// counts them as renewed); its local expiry does not move.
func (s *leaseSet) renew(ctx context.Context, p string) (time.Time, error) {
	s.mu.Lock()
	h := s.held[p]
	s.mu.Unlock()
	if h == nil {
		return time.Time{}, errLeaseLost
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	lc, err := lease.NewBlobClient(s.blob(p), &lease.BlobClientOptions{LeaseID: to.Ptr(h.token)})
	if err != nil {
		return time.Time{}, err
	}
	start := time.Now()
	if _, err := lc.RenewLease(ctx, nil); err != nil {
		if hasStatus(err, http.StatusConflict, http.StatusPreconditionFailed) {
			s.forget(p, h.token)
			return time.Time{}, fmt.Errorf("renew %s lease %s: %w (%s)", s.kind, p, errLeaseLost, errSummary(err))
		}
		return time.Time{}, fmt.Errorf("renew %s lease %s: %w", s.kind, p, err)
	}
	expires := start.Add(s.duration)
	s.mu.Lock()
	if s.held[p] == h {
		h.expires = expires
	}
	s.mu.Unlock()
	return expires, nil
}

// release writes the body with Owner and Token null (Epoch kept) under the
// lease, then releases it.
func (s *leaseSet) release(ctx context.Context, p string) error {
	s.mu.Lock()
	h := s.held[p]
	delete(s.held, p)
	s.mu.Unlock()
	if h == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.writeBody(ctx, p, LeaseBody{PartitionID: p, Epoch: h.epoch}, h.token); err != nil {
		if hasStatus(err, http.StatusConflict, http.StatusPreconditionFailed) {
			s.log.Debug("partition: lease already taken by another worker; nothing to release", "type", s.kind, "partition", p)
			return nil
		}
		return err
	}
	lc, err := lease.NewBlobClient(s.blob(p), &lease.BlobClientOptions{LeaseID: to.Ptr(h.token)})
	if err != nil {
		return err
	}
	if _, err := lc.ReleaseLease(ctx, nil); err != nil {
		return fmt.Errorf("release %s lease %s: %w", s.kind, p, err)
	}
	return nil
}

// releaseLease gives up a lease whose body could not be written.
func (s *leaseSet) releaseLease(p, token string) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	if lc, err := lease.NewBlobClient(s.blob(p), &lease.BlobClientOptions{LeaseID: to.Ptr(token)}); err == nil {
		_, _ = lc.ReleaseLease(ctx, nil)
	}
}

func (s *leaseSet) writeBody(ctx context.Context, p string, body LeaseBody, token string) error {
	data, _ := body.MarshalJSON()
	_, err := s.blob(p).Upload(ctx, readSeekCloser(data), &blockblob.UploadOptions{
		AccessConditions: &blob.AccessConditions{LeaseAccessConditions: &blob.LeaseAccessConditions{LeaseID: to.Ptr(token)}},
	})
	if err != nil {
		return fmt.Errorf("write %s lease body %s: %w", s.kind, p, err)
	}
	return nil
}

func (s *leaseSet) forget(p, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := s.held[p]; h != nil && h.token == token {
		delete(s.held, p)
	}
}

func (s *leaseSet) holds(p string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held[p] != nil
}

// heldList returns the held partitions, sorted.
func (s *leaseSet) heldList() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for p := range s.held {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// expiredBefore forgets and returns the held leases whose local expiry is
// not after t: renewals failed for so long that they may be somebody
// else's by now.
func (s *leaseSet) expiredBefore(t time.Time) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for p, h := range s.held {
		if !t.Before(h.expires) {
			out = append(out, p)
			delete(s.held, p)
		}
	}
	slices.Sort(out)
	return out
}

// expiry returns the local expiry of a held lease.
func (s *leaseSet) expiry(p string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := s.held[p]; h != nil {
		return h.expires, true
	}
	return time.Time{}, false
}

// ReadLeases returns every lease blob of the safe blob-lease manager, the
// intent leases first, each sorted by partition: who holds which lease,
// for `hub info`. Bodies carry lease ids (Token); do not log them.
func ReadLeases(ctx context.Context, blobs *azblob.Client, taskHub string) ([]BlobLease, error) {
	names, err := taskhub.NewNames(taskHub)
	if err != nil {
		return nil, err
	}
	cc := blobs.ServiceClient().NewContainerClient(names.LeasesContainer())
	var out []BlobLease
	for _, kind := range []string{LeaseIntent, LeaseOwnership} {
		s := &leaseSet{kind: kind, cc: cc, timeout: DefaultBlobOperationTimeout}
		ls, err := s.list(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, ls...)
	}
	return out, nil
}
