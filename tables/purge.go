package tables

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/azdurable/azdurable/history"
)

// Purge limits: history rows are deleted in transactions of
// purgeBatchRows, at most purgeBatchesInFlight at a time (as C# does), and
// a filtered purge reads purgePageSize instances per page.
const (
	purgeBatchRows       = 100
	purgeBatchesInFlight = 10
	purgePageSize        = 100
	defaultPurgeParallel = 8
)

// The kinds of blob an instance has in the large-message container: the
// first characters of the blob's name after "<id>/".
const (
	columnBlobKind  = "history-" // HistoryBlobName, under the escaped id
	messageBlobKind = "message-" // offloaded queue messages, under the raw id
)

// ErrNoPurgeStatuses is wrapped by PurgeFilter's error when, after keeping
// only the terminal statuses, no status is left and the caller did not ask
// for all statuses. C# would then purge regardless of status; azdurable
// wants that said explicitly (PurgeFilter.AllStatuses).
var ErrNoPurgeStatuses = errors.New("no terminal status to purge by (Completed, Failed, Canceled, Terminated); set AllStatuses to purge regardless of status")

// PurgeResult counts what a purge deleted.
type PurgeResult struct {
	// Instances is the number of Instances rows deleted: the number of
	// instances purged.
	Instances int
	// HistoryRows is the number of History rows deleted, sentinels included.
	HistoryRows int
	// Blobs is the number of large-message blobs deleted.
	Blobs int
	// Complete is false when the purge stopped early (ctx ended) or some
	// instance failed; the counts then say how far it got.
	Complete bool
}

func (r *PurgeResult) add(o PurgeResult) {
	r.Instances += o.Instances
	r.HistoryRows += o.HistoryRows
	r.Blobs += o.Blobs
}

// PurgeOptions configure a Purger. A nil *PurgeOptions means the defaults.
type PurgeOptions struct {
	// Concurrency bounds the instances PurgeFilter purges at once; default 8.
	Concurrency int
}

// Purger deletes instances: their History rows, Instances row and
// large-message blobs (§6 of the tables spec). It is safe for concurrent use.
type Purger struct {
	history   *HistoryStore
	instances *InstanceStore
	parallel  int
}

// NewPurger returns a Purger over a hub's History and Instances stores. The
// History store's large-message container is where blobs are deleted.
func NewPurger(h *HistoryStore, in *InstanceStore, o *PurgeOptions) *Purger {
	p := &Purger{history: h, instances: in, parallel: defaultPurgeParallel}
	if o != nil && o.Concurrency > 0 {
		p.parallel = o.Concurrency
	}
	return p
}

// Instance purges one instance whatever its status. If it has no Instances
// row nothing is deleted, not even History rows, as in C#. Otherwise, in
// parallel: every History row of the partition (all executions and the
// sentinel) is deleted in transactions of 100, falling back to single
// deletes when a transaction meets a row that is already gone; the
// Instances row is deleted (If-Match "*"); and the instance's blobs are
// deleted: its offloaded columns under "<escaped id>/history-" and its
// offloaded messages under "<raw id>/message-".
//
// The blob prefixes end in "/" plus the blob kind on purpose, unlike C#,
// whose prefix is the bare raw id: C#'s purge of "abc" also deletes the
// blobs of "abcd", and misses the column blobs of ids that need escaping.
// The kind matters for ids with a "/": with "<raw id>/" alone, purging "ab"
// would delete the message blobs of "ab/cd" ("ab/cd/message-…").
func (p *Purger) Instance(ctx context.Context, instanceID string) (PurgeResult, error) {
	ok, err := p.instances.exists(ctx, instanceID)
	if err != nil {
		return PurgeResult{}, err
	}
	if !ok {
		return PurgeResult{Complete: true}, nil
	}
	return p.purgeKnown(ctx, instanceID)
}

func (p *Purger) purgeKnown(ctx context.Context, instanceID string) (PurgeResult, error) {
	var res PurgeResult
	var mu sync.Mutex
	var errs []error
	done := func(f func(*PurgeResult), err error) {
		mu.Lock()
		defer mu.Unlock()
		f(&res)
		if err != nil {
			errs = append(errs, err)
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		n, err := p.deleteBlobs(ctx, instanceID)
		done(func(r *PurgeResult) { r.Blobs += n }, err)
	})
	wg.Go(func() {
		n, err := p.deleteHistory(ctx, instanceID)
		done(func(r *PurgeResult) { r.HistoryRows += n }, err)
	})
	wg.Go(func() {
		err := p.instances.Delete(ctx, instanceID)
		n := 1
		if errors.Is(err, ErrNotFound) {
			n, err = 0, nil // purged meanwhile by someone else
		} else if err != nil {
			n = 0
		}
		done(func(r *PurgeResult) { r.Instances += n }, err)
	})
	wg.Wait()
	res.Complete = len(errs) == 0
	if len(errs) > 0 {
		return res, fmt.Errorf("tables: purge of instance %q: %w", instanceID, errors.Join(errs...))
	}
	return res, nil
}

func (p *Purger) deleteBlobs(ctx context.Context, instanceID string) (int, error) {
	b := p.history.blobs
	if b == nil {
		return 0, nil
	}
	prefixes := []string{
		EscapePartitionKey(instanceID) + "/" + columnBlobKind,
		instanceID + "/" + messageBlobKind,
	}
	total := 0
	for _, prefix := range prefixes {
		n, err := b.DeletePrefix(ctx, prefix)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// deleteHistory deletes every row of the instance's History partition and
// returns how many it deleted.
func (p *Purger) deleteHistory(ctx context.Context, instanceID string) (int, error) {
	h := p.history
	pk := EscapePartitionKey(instanceID)
	rows, err := queryAll(ctx, h.client, h.table, pk, &aztables.ListEntitiesOptions{
		Filter: to.Ptr("PartitionKey eq " + odataString(pk)),
		Select: to.Ptr("PartitionKey,RowKey,Timestamp"),
	})
	if err != nil {
		return 0, err
	}
	var chunks [][]*Entity
	for start := 0; start < len(rows); start += purgeBatchRows {
		chunks = append(chunks, rows[start:min(start+purgeBatchRows, len(rows))])
	}
	var mu sync.Mutex
	deleted := 0
	err = forEachLimit(ctx, len(chunks), purgeBatchesInFlight, func(ctx context.Context, i int) error {
		ops := make([]txOp, len(chunks[i]))
		for j, r := range chunks[i] {
			ops[j] = txOp{typ: aztables.TransactionTypeDelete, entity: r}
		}
		_, err := submitTransaction(ctx, h.client, h.table, ops)
		n := len(ops)
		if errors.Is(err, ErrNotFound) {
			// Some row went away meanwhile, which fails the whole
			// transaction: delete the rest one by one.
			n, err = p.deleteOneByOne(ctx, chunks[i])
		} else if err != nil {
			n = 0
		}
		mu.Lock()
		deleted += n
		mu.Unlock()
		return err
	})
	return deleted, err
}

// deleteOneByOne deletes rows singly, skipping those already gone.
func (p *Purger) deleteOneByOne(ctx context.Context, rows []*Entity) (int, error) {
	h := p.history
	deleted := 0
	for _, r := range rows {
		_, err := h.client.DeleteEntity(ctx, r.PartitionKey, r.RowKey, &aztables.DeleteEntityOptions{IfMatch: to.Ptr(azcore.ETagAny)})
		switch err := entityError("delete", h.table, r.PartitionKey, r.RowKey, err); {
		case err == nil:
			deleted++
		case errors.Is(err, ErrNotFound):
		default:
			return deleted, err
		}
	}
	return deleted, nil
}

// PurgeFilter selects the instances PurgeFilter deletes.
type PurgeFilter struct {
	// CreatedFrom and CreatedTo bound CreatedTime, inclusive; zero means
	// unbounded.
	CreatedFrom, CreatedTo time.Time
	// Statuses are the statuses to purge. As in C#, only Completed,
	// Failed, Canceled and Terminated are kept; the others are ignored.
	Statuses []history.OrchestrationStatus
	// AllStatuses purges regardless of status (C#'s behaviour when no
	// terminal status is given). It may not be combined with Statuses.
	AllStatuses bool
}

// terminalStatuses keeps the statuses C# purges by.
func terminalStatuses(in []history.OrchestrationStatus) []history.OrchestrationStatus {
	var out []history.OrchestrationStatus
	for _, s := range in {
		if s.IsTerminal() {
			out = append(out, s)
		}
	}
	return out
}

// changedStatus reads the instance's status again just before a purge by
// status deletes it, and reports whether the instance must be kept: it is
// gone, or its status is no longer one of statuses (it was restarted
// since the page was read). Without statuses it keeps nothing.
func (p *Purger) changedStatus(ctx context.Context, instanceID string, statuses []history.OrchestrationStatus) (bool, error) {
	if len(statuses) == 0 {
		return false, nil
	}
	row, err := p.instances.Get(ctx, instanceID, false)
	if errors.Is(err, ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return true, err
	}
	return !slices.Contains(statuses, row.State.Status), nil
}

// Filter purges every instance f selects, like Instance for each, with at
// most PurgeOptions.Concurrency at once. It reads the Instances table in
// pages of 100 (Input and Output projected away). When ctx ends it stops
// and returns what it did with Complete false and ctx's error; an instance
// that fails is skipped, the others are still purged, and the error names
// it. A filter with no terminal status left is refused (ErrNoPurgeStatuses)
// unless AllStatuses is set. With statuses, each instance's status is read
// again just before it is purged, and an instance whose status has left
// the filter since its page was read (a restart) is skipped.
func (p *Purger) Filter(ctx context.Context, f PurgeFilter) (PurgeResult, error) {
	q := InstanceQuery{CreatedFrom: f.CreatedFrom, CreatedTo: f.CreatedTo, PageSize: purgePageSize}
	switch reduced := terminalStatuses(f.Statuses); {
	case f.AllStatuses && len(f.Statuses) > 0:
		return PurgeResult{}, fmt.Errorf("tables: purge: AllStatuses and Statuses %v given together; choose one", f.Statuses)
	case f.AllStatuses:
	case len(reduced) == 0:
		return PurgeResult{}, fmt.Errorf("tables: purge with statuses %v: %w", f.Statuses, ErrNoPurgeStatuses)
	default:
		q.Statuses = reduced
	}
	res := PurgeResult{Complete: true}
	var failures []error
	token := ""
	for {
		if err := ctx.Err(); err != nil {
			res.Complete = false
			return res, fmt.Errorf("tables: purge stopped: %w", context.Cause(ctx))
		}
		page, err := p.instances.Query(ctx, q, token)
		if err != nil {
			res.Complete = false
			return res, errors.Join(append(failures, err)...)
		}
		var mu sync.Mutex
		_ = forEachLimit(ctx, len(page.Instances), p.parallel, func(ctx context.Context, i int) error {
			id := page.Instances[i].State.OrchestrationInstance.InstanceID
			keep, err := p.changedStatus(ctx, id, q.Statuses)
			if keep || err != nil {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					res.Complete = false
					failures = append(failures, err)
				}
				return nil
			}
			r, err := p.purgeKnown(ctx, id)
			mu.Lock()
			defer mu.Unlock()
			res.add(r)
			if err != nil {
				res.Complete = false
				failures = append(failures, err)
			}
			return nil // skip the failed instance, keep purging the others
		})
		if token = page.ContinuationToken; token == "" {
			break
		}
	}
	if err := ctx.Err(); err != nil {
		res.Complete = false
		return res, fmt.Errorf("tables: purge stopped: %w", context.Cause(ctx))
	}
	return res, errors.Join(failures...)
}
