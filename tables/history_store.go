package tables

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/azdurable/azdurable/blobs"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/taskhub"
)

// Checkpoint batching limits (§1.6 of the tables spec): at most this many
// event rows per transaction (the sentinel makes 100), and a flush once the
// estimated size (EstimatedRowBytes) goes over MaxBatchBytes.
const (
	MaxBatchRows  = taskhub.MaxBatchRows
	MaxBatchBytes = taskhub.MaxBatchBytes
)

// defaultBlobConcurrency bounds parallel blob transfers of one Load or one
// batch of an Append.
const defaultBlobConcurrency = 8

// StoreOptions configure a HistoryStore. A nil *StoreOptions, and every
// zero field, means the default.
type StoreOptions struct {
	// Now is the clock for CheckpointCompletedTimestamp; default time.Now.
	Now func() time.Time
	// Random gives the random part of offloaded blob names; default a
	// non-negative 31-bit random number, as C# draws.
	Random func() uint32
	// BlobConcurrency bounds parallel blob uploads and downloads; default 8.
	BlobConcurrency int
}

// HistoryStore reads and appends the History table of one task hub
// ({Hub}History) and keeps its large columns in the hub's large-message
// container. It is safe for concurrent use.
type HistoryStore struct {
	client *aztables.Client
	table  string
	blobs  *blobs.Store
	now    func() time.Time
	random func() uint32
	limit  int

	stampMu   sync.Mutex
	lastStamp time.Time
}

// NewHistoryStore returns a store for the table named table (for example
// the task hub's <Hub>History) in svc. largeMessages is the hub's
// {hub}-largemessages container; it may be nil only if no history column
// ever exceeds MaxColumnUTF16Bytes (Load and Append fail otherwise).
func NewHistoryStore(svc *aztables.ServiceClient, table string, largeMessages *blobs.Store, o *StoreOptions) *HistoryStore {
	s := &HistoryStore{client: svc.NewClient(table), table: table, blobs: largeMessages,
		now: time.Now, limit: defaultBlobConcurrency}
	if o != nil {
		if o.Now != nil {
			s.now = o.Now
		}
		s.random = o.Random
		if o.BlobConcurrency > 0 {
			s.limit = o.BlobConcurrency
		}
	}
	return s
}

// Table returns the table's name.
func (s *HistoryStore) Table() string { return s.table }

// History is an instance's history as Load found it.
type History struct {
	// Events are the current execution's events in order; empty when the
	// history is judged absent (§1.7 step 2).
	Events []history.Event
	// Rows are the event rows as stored (large columns still "" plus
	// <Column>BlobName), parallel to Events. Repair of the Instances row
	// needs them to find offloaded columns.
	Rows []*Entity
	// ExecutionID is the execution the events belong to: the sentinel's,
	// or, without a sentinel, the first row's. "" when Events is empty.
	ExecutionID string
	// Sentinel is the instance's sentinel row, nil if there is none. It is
	// set even when Events is empty.
	Sentinel *Sentinel
	// ETag is the sentinel's ETag, "" without a sentinel: pass it to the
	// next Append (which then merges the sentinel instead of inserting it).
	ETag string
	// CheckpointCompleted is the sentinel's CheckpointCompletedTimestamp,
	// zero when absent (C# reads DateTime.MinValue).
	CheckpointCompleted time.Time
	// BlobNames are the large-message blobs the returned rows refer to, to
	// delete once an episode has replaced the execution (§1.6 step 6).
	BlobNames []string
}

// Load reads an instance's history (§1.7). With an expected execution id
// it asks only for that execution's rows and the sentinel, and the history
// counts as present only if the sentinel names that execution; without
// one it reads the whole partition. Rows are read in RowKey order, through
// every page; the walk stops at the first row of another execution (stale
// rows of an older, longer one). Offloaded columns are downloaded (in
// parallel, bounded) and put back before decoding. The sentinel's ETag and
// checkpoint time are returned even when the history is judged empty, so
// that a new execution merges the existing sentinel.
func (s *HistoryStore) Load(ctx context.Context, instanceID, expectedExecutionID string) (*History, error) {
	pk := EscapePartitionKey(instanceID)
	filter := "PartitionKey eq " + odataString(pk)
	if expectedExecutionID != "" {
		filter += " and (RowKey eq " + odataString(SentinelRowKey) + " or ExecutionId eq " + odataString(expectedExecutionID) + ")"
	}
	rows, err := queryAll(ctx, s.client, s.table, pk, &aztables.ListEntitiesOptions{Filter: &filter})
	if err != nil {
		return nil, err
	}
	h := &History{}
	var events []*Entity
	for _, e := range rows {
		if IsSentinel(e) {
			sen, err := DecodeSentinel(e)
			if err != nil {
				return nil, err
			}
			h.Sentinel, h.ETag, h.CheckpointCompleted = sen, sen.ETag, sen.CheckpointCompleted
			continue
		}
		events = append(events, e)
	}
	valid := len(rows) > 0 &&
		(expectedExecutionID == "" || (h.Sentinel != nil && h.Sentinel.ExecutionID == expectedExecutionID))
	if !valid || len(events) == 0 {
		return h, nil
	}
	exec := ""
	if h.Sentinel != nil {
		exec = h.Sentinel.ExecutionID
	} else {
		exec, _ = events[0].GetString(colExecutionID)
	}
	for _, e := range events {
		if id, _ := e.GetString(colExecutionID); id != exec {
			break // stale rows of an earlier execution from here on
		}
		h.Rows = append(h.Rows, e)
	}
	h.ExecutionID = exec
	resolved, names, err := s.resolveLarge(ctx, h.Rows)
	if err != nil {
		return nil, err
	}
	h.BlobNames = names
	h.Events = make([]history.Event, len(resolved))
	for i, e := range resolved {
		if h.Events[i], err = DecodeHistoryRow(e); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// resolveLarge returns copies of rows with every offloaded column
// downloaded and put back, and the names of the blobs involved. Rows
// without references are returned as they are.
func (s *HistoryStore) resolveLarge(ctx context.Context, rows []*Entity) ([]*Entity, []string, error) {
	out := make([]*Entity, len(rows))
	copy(out, rows)
	type job struct {
		row int
		ref LargeValue
	}
	var jobs []job
	for i, e := range rows {
		for _, ref := range LargeColumnRefs(e) {
			jobs = append(jobs, job{i, ref})
		}
	}
	if len(jobs) == 0 {
		return out, nil, nil
	}
	if s.blobs == nil {
		return nil, nil, fmt.Errorf("tables: history row %q/%q refers to blob %q but the store has no large-message container", rows[jobs[0].row].PartitionKey, rows[jobs[0].row].RowKey, jobs[0].ref.BlobName)
	}
	texts := make([]string, len(jobs))
	err := forEachLimit(ctx, len(jobs), s.limit, func(ctx context.Context, i int) error {
		data, err := s.blobs.DownloadGzip(ctx, jobs[i].ref.BlobName)
		if err != nil {
			r := rows[jobs[i].row]
			return fmt.Errorf("tables: column %s of history row %q/%q: %w", jobs[i].ref.Column, r.PartitionKey, r.RowKey, err)
		}
		texts[i] = string(data)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	names := make([]string, len(jobs))
	for i, j := range jobs {
		if out[j.row] == rows[j.row] {
			out[j.row] = cloneEntity(rows[j.row])
		}
		ResolveLargeColumn(out[j.row], j.ref.Column, texts[i])
		names[i] = j.ref.BlobName
	}
	return out, names, nil
}

// AppendResult reports what Append wrote.
type AppendResult struct {
	// ETag is the sentinel's ETag after the last committed transaction
	// (the input ETag when nothing was committed). Keep it for the next
	// Append of this instance.
	ETag string
	// Rows are the rows written for the events, in order, after
	// offloading: the Checkpoint.NewRows of the Instances update.
	Rows []*Entity
	// Transactions is how many transactions were committed.
	Transactions int
	// Blobs are the names of the blobs uploaded for large columns.
	Blobs []string
}

// Append writes the events of one checkpoint (§1.6) as rows startSeq,
// startSeq+1, … of execution executionID: InsertOrReplace rows in
// transactions of at most MaxBatchRows rows or about MaxBatchBytes, each
// ending with the sentinel — an Insert when etag is "" (a new history),
// else a Merge with If-Match etag. IsCheckpointComplete is true, and
// CheckpointCompletedTimestamp (the store's clock) written, only in the
// last transaction. Large columns go to blobs first, uploaded before the
// transaction that refers to them. The ETag the service returns for the
// sentinel operation is carried from transaction to transaction.
//
// A 409 (sentinel exists) or 412 (sentinel changed) gives an error
// wrapping ErrConflict: another writer owns the history now. Earlier
// transactions of the same call stay committed; the result is returned
// with the error and tells how far it got. No events means no write.
func (s *HistoryStore) Append(ctx context.Context, instanceID, executionID string, startSeq int, events []history.Event, etag string) (*AppendResult, error) {
	res := &AppendResult{ETag: etag}
	if len(events) == 0 {
		return res, nil
	}
	switch {
	case instanceID == "" || executionID == "":
		return res, fmt.Errorf("tables: append to %q: instance id and execution id (%q) must not be empty", instanceID, executionID)
	case startSeq < 0:
		return res, fmt.Errorf("tables: append to %q: negative start sequence %d", instanceID, startSeq)
	}
	rows := make([]*Entity, len(events))
	uploads := make([][]LargeValue, len(events))
	for i, ev := range events {
		rows[i] = HistoryRow(instanceID, executionID, startSeq+i, ev)
		up, err := OffloadLargeColumns(rows[i], s.random)
		if err != nil {
			return res, err
		}
		if len(up) > 0 && s.blobs == nil {
			return res, fmt.Errorf("tables: history row %q/%q has a column too large for the table and the store has no large-message container", rows[i].PartitionKey, rows[i].RowKey)
		}
		uploads[i] = up
	}
	res.Rows = rows
	batches := splitBatches(rows)
	first := 0
	for b, n := range batches {
		last := b == len(batches)-1
		var up []LargeValue
		for _, u := range uploads[first : first+n] {
			up = append(up, u...)
		}
		if err := s.upload(ctx, up); err != nil {
			return res, err
		}
		for _, u := range up {
			res.Blobs = append(res.Blobs, u.BlobName)
		}
		var completed time.Time
		if last {
			completed = s.checkpointStamp()
		}
		ops := make([]txOp, 0, n+1)
		for _, r := range rows[first : first+n] {
			ops = append(ops, txOp{typ: aztables.TransactionTypeInsertReplace, entity: r})
		}
		sentinel := txOp{typ: aztables.TransactionTypeAdd, entity: SentinelRow(instanceID, executionID, last, completed)}
		if res.ETag != "" {
			sentinel = txOp{typ: aztables.TransactionTypeUpdateMerge, entity: sentinel.entity, ifMatch: res.ETag}
		}
		ops = append(ops, sentinel)
		etags, err := submitTransaction(ctx, s.client, s.table, ops)
		if err != nil && last && errors.Is(err, ErrConflict) {
			// A retry after a lost answer conflicts with our own write.
			if etag, ok := s.ownCheckpoint(ctx, instanceID, executionID, completed); ok {
				etags, err = []string{etag}, nil
			}
		}
		if err != nil {
			return res, err
		}
		if etags[len(etags)-1] == "" {
			return res, &Error{Op: "transaction", Table: s.table, PartitionKey: sentinel.entity.PartitionKey, Index: -1,
				Err: fmt.Errorf("%w: the sentinel's answer has no ETag", ErrUnknownETag)}
		}
		res.ETag = etags[len(etags)-1]
		res.Transactions++
		first += n
	}
	return res, nil
}

// ownCheckpoint tells a conflict caused by our own checkpoint from one
// caused by another writer. When the answer to the last transaction is
// lost (a timeout, a reset, a 500 after the service applied it), the SDK
// retries it, and the retry fails its If-Match (or its Insert) against the
// sentinel the first attempt wrote. Reporting that as a conflict would
// abandon a committed episode, and its messages would then be applied a
// second time (an external event counted twice). The sentinel shows whose
// checkpoint it is: a complete checkpoint of this execution whose
// CheckpointCompletedTimestamp is the one this call wrote. Another
// writer's complete checkpoint has its own timestamp, and its partial one
// clears IsCheckpointComplete, so a sentinel changed by anyone after our
// write never matches. It returns the sentinel's ETag when it matches.
func (s *HistoryStore) ownCheckpoint(ctx context.Context, instanceID, executionID string, completed time.Time) (string, bool) {
	pk := EscapePartitionKey(instanceID)
	filter := "PartitionKey eq " + odataString(pk) + " and RowKey eq " + odataString(SentinelRowKey)
	rows, err := queryAll(ctx, s.client, s.table, pk, &aztables.ListEntitiesOptions{Filter: &filter})
	if err != nil || len(rows) != 1 {
		return "", false
	}
	sen, err := DecodeSentinel(rows[0])
	if err != nil || sen.ETag == "" || sen.ExecutionID != executionID || !sen.IsCheckpointComplete {
		return "", false
	}
	// The column holds 100 ns ticks.
	const tick = 100 * time.Nanosecond
	return sen.ETag, sen.CheckpointCompleted.Truncate(tick).Equal(completed.Truncate(tick))
}

// checkpointStamp returns the CheckpointCompletedTimestamp for a new
// checkpoint: the store's clock in whole 100 ns ticks (the column's
// precision), and always at least one tick after the previous stamp this
// store gave. ownCheckpoint recognises a checkpoint by this stamp, so two
// appends racing in one process (the same clock reading, or a coarse
// clock) must never share one: the loser would take the winner's
// checkpoint for its own and both would report success.
func (s *HistoryStore) checkpointStamp() time.Time {
	const tick = 100 * time.Nanosecond
	now := s.now().UTC().Truncate(tick)
	s.stampMu.Lock()
	defer s.stampMu.Unlock()
	if !now.After(s.lastStamp) {
		now = s.lastStamp.Add(tick)
	}
	s.lastStamp = now
	return now
}

// splitBatches returns the number of rows of each transaction: a batch is
// closed when it holds MaxBatchRows rows or its estimated size has gone
// over MaxBatchBytes (the row that crossed the line stays in it), as C#
// does. The last batch is the one that closes the checkpoint.
func splitBatches(rows []*Entity) []int {
	var out []int
	n, size := 0, 0
	for _, r := range rows {
		n++
		size += EstimatedRowBytes(r)
		if n == MaxBatchRows || size > MaxBatchBytes {
			out = append(out, n)
			n, size = 0, 0
		}
	}
	if n > 0 {
		out = append(out, n)
	}
	return out
}

func (s *HistoryStore) upload(ctx context.Context, up []LargeValue) error {
	return forEachLimit(ctx, len(up), s.limit, func(ctx context.Context, i int) error {
		if err := s.blobs.UploadGzip(ctx, up[i].BlobName, []byte(up[i].Text)); err != nil {
			return fmt.Errorf("tables: offload column %s: %w", up[i].Column, err)
		}
		return nil
	})
}

// queryAll runs a query through every page and decodes the entities.
func queryAll(ctx context.Context, c *aztables.Client, table, pk string, o *aztables.ListEntitiesOptions) ([]*Entity, error) {
	var out []*Entity
	pager := c.NewListEntitiesPager(o)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, entityError("query", table, pk, "", err)
		}
		for _, raw := range page.Entities {
			e, err := UnmarshalEntity(raw)
			if err != nil {
				return nil, fmt.Errorf("tables: query on table %s, partition %q: %w", table, pk, err)
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// forEachLimit calls f(ctx, i) for i in [0, n) with at most limit calls
// running at once, and returns the first error. After an error, or when
// ctx ends, calls not yet started are skipped and ctx passed to running
// ones is canceled.
func forEachLimit(ctx context.Context, n, limit int, f func(context.Context, int) error) error {
	if n == 0 {
		return nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, max(limit, 1))
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	fail := func(err error) {
		once.Do(func() { first = err; cancel(err) })
	}
	started := 0
	for i := 0; i < n; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		started++
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := f(ctx, i); err != nil {
				fail(err)
			}
		}()
	}
	wg.Wait()
	switch {
	case first != nil:
		return first
	case started < n:
		return context.Cause(ctx)
	}
	return nil
}

// cloneEntity copies an entity's properties so that the copy can change
// without touching the original.
func cloneEntity(e *Entity) *Entity {
	c := *e
	c.Properties = append([]Property(nil), e.Properties...)
	return &c
}

// odataString quotes s as an OData string literal: single quotes around,
// embedded single quotes doubled.
func odataString(s string) string {
	out := make([]byte, 0, len(s)+2)
	out = append(out, '\'')
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			out = append(out, '\'')
		}
		out = append(out, s[i])
	}
	return string(append(out, '\''))
}
