package azurestorage

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/azdurable/azdurable/partition"
	"github.com/azdurable/azdurable/queues"
)

// This file is the part of the admin API that shows what a hub is doing
// now: how far behind each partition is and what has been quarantined. It
// only reads, and works on a hub C# wrote as well as one Go wrote (the
// queues, the partition table or blob leases are C#'s; the poison
// container is this backend's own and simply absent on a C# hub).

// PartitionActivity is the state of one partition.
type PartitionActivity struct {
	// Index is the partition number; ControlQueue its queue.
	Index        int
	ControlQueue string
	// Owner is the WorkerId holding the partition ("" when nobody does),
	// from the <Hub>Partitions table or, on a hub of blob leases, the
	// lease blob. NextOwner is a worker asking to take it over.
	Owner     string
	NextOwner string
	// LeaseExpires is when the table lease expires unless renewed (zero
	// on blob leases, whose expiry the service keeps to itself).
	LeaseExpires time.Time
	// Draining says the owner is finishing its work before releasing.
	Draining bool
	// Depth is the service's approximate message count, invisible
	// messages (timers, messages being processed) included.
	Depth int
	// Oldest is the insertion time of the first visible message (zero when
	// none is visible): how long the partition has been waiting.
	Oldest time.Time
}

// PoisonRecord is one quarantined message of the <hub>-poison container.
type PoisonRecord struct {
	// InstanceID is the instance the message was for ("" when it named
	// none or the id did not fit a blob name).
	InstanceID string
	// Queue is the queue the message was taken from.
	Queue string
	// Blob is the record's blob name; Time its last modification.
	Blob string
	Time time.Time
}

// HubActivity is a snapshot of a task hub's queues, partition owners and
// quarantined messages.
type HubActivity struct {
	// TaskHub is the hub's name.
	TaskHub string
	// Partitions are the hub's partitions, by index.
	Partitions []PartitionActivity
	// BlobLeases says the hub's partitions are managed with blob leases
	// (no <Hub>Partitions table).
	BlobLeases bool
	// WorkItemQueue, its approximate depth and the insertion time of its
	// first visible message.
	WorkItemQueue  string
	WorkItemDepth  int
	WorkItemOldest time.Time
	// Poisoned counts the quarantined message records; Stalled the
	// give-back records. Recent are the newest quarantined records (at
	// most MaxPoisonRecords).
	Poisoned int
	Stalled  int
	Recent   []PoisonRecord
	// PoisonTruncated says the listing stopped at MaxPoisonListed blobs,
	// so the counts are lower bounds.
	PoisonTruncated bool
}

// MaxPoisonRecords bounds HubActivity.Recent; MaxPoisonListed bounds the
// blobs Activity lists to count the poison container.
const (
	MaxPoisonRecords = 20
	MaxPoisonListed  = 5000
)

// Activity reads the hub's partitions (owner, lease expiry, control-queue
// depth and oldest visible message), the work-item queue and the
// quarantined messages. It reads only; a hub that does not exist is an
// error.
func (b *Backend) Activity(ctx context.Context) (*HubActivity, error) {
	n, err := b.hubPartitions(ctx)
	if err != nil {
		if errors.Is(err, errNoHub) {
			return nil, fmt.Errorf("task hub %q does not exist", b.opts.TaskHub)
		}
		return nil, err
	}
	a := &HubActivity{TaskHub: b.opts.TaskHub, WorkItemQueue: b.names.WorkItemQueue()}
	for i, name := range b.names.ControlQueues(n) {
		p := PartitionActivity{Index: i, ControlQueue: name}
		if p.Depth, p.Oldest, err = b.queueActivity(ctx, name); err != nil {
			return nil, err
		}
		a.Partitions = append(a.Partitions, p)
	}
	if a.WorkItemDepth, a.WorkItemOldest, err = b.queueActivity(ctx, a.WorkItemQueue); err != nil {
		return nil, err
	}
	byQueue := map[string]*PartitionActivity{}
	for i := range a.Partitions {
		byQueue[a.Partitions[i].ControlQueue] = &a.Partitions[i]
	}
	rows, err := partition.ReadTable(ctx, b.tsvc, b.opts.TaskHub)
	switch {
	case err == nil:
		for _, r := range rows {
			if p := byQueue[r.Partition]; p != nil {
				p.Owner, p.NextOwner, p.LeaseExpires, p.Draining = r.CurrentOwner, r.NextOwner, r.ExpiresAt, r.IsDraining
			}
		}
	case errors.Is(err, partition.ErrNoPartitionsTable):
		a.BlobLeases = true
		leases, lerr := partition.ReadLeases(ctx, b.bsvc, b.opts.TaskHub)
		if lerr != nil {
			return nil, lerr
		}
		for _, l := range leases {
			p := byQueue[l.PartitionID]
			if p == nil {
				continue
			}
			switch {
			case l.Type == partition.LeaseOwnership && l.Leased:
				p.Owner = l.Owner
			case l.Type != partition.LeaseOwnership && l.Leased:
				p.NextOwner = l.Owner
			}
		}
	default:
		return nil, err
	}
	if err := b.poisonActivity(ctx, a); err != nil {
		return nil, err
	}
	return a, nil
}

// queueActivity returns a queue's approximate depth and the insertion time
// of its first visible message.
func (b *Backend) queueActivity(ctx context.Context, name string) (int, time.Time, error) {
	q := queues.NewQueue(b.qsvc, name, &queues.QueueOptions{Logger: b.log})
	depth, err := q.ApproximateCount(ctx)
	if err != nil {
		if errors.Is(err, queues.ErrQueueNotFound) {
			return 0, time.Time{}, nil
		}
		return 0, time.Time{}, err
	}
	if depth == 0 {
		return 0, time.Time{}, nil
	}
	msgs, err := q.Peek(ctx, 1)
	if err != nil || len(msgs) == 0 {
		return depth, time.Time{}, err
	}
	return depth, msgs[0].InsertionTime, nil
}

// poisonActivity counts the records of the poison container (layout in
// poison.go) and keeps the newest quarantined ones.
func (b *Backend) poisonActivity(ctx context.Context, a *HubActivity) error {
	container := b.names.PoisonContainer()
	pager := b.bsvc.NewListBlobsFlatPager(container, nil)
	listed := 0
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if bloberror.HasCode(err, bloberror.ContainerNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("azurestorage: listing %s: %w", container, err)
		}
		for _, it := range page.Segment.BlobItems {
			if it.Name == nil {
				continue
			}
			listed++
			rec, quarantined, stalled := parsePoisonBlob(*it.Name)
			if it.Properties != nil && it.Properties.LastModified != nil {
				rec.Time = *it.Properties.LastModified
			}
			switch {
			case quarantined:
				a.Poisoned++
				a.Recent = append(a.Recent, rec)
			case stalled:
				a.Stalled++
			}
		}
		if listed >= MaxPoisonListed && pager.More() {
			a.PoisonTruncated = true
			break
		}
	}
	sort.SliceStable(a.Recent, func(i, j int) bool { return a.Recent[i].Time.After(a.Recent[j].Time) })
	if len(a.Recent) > MaxPoisonRecords {
		a.Recent = a.Recent[:MaxPoisonRecords]
	}
	return nil
}

// parsePoisonBlob reads a poison record's name:
// instances/<id>/quarantined/<queue>/<msg>.json.gz,
// instances/<id>/stalled/…, or no-instance/<queue>/<msg>.json.gz.
func parsePoisonBlob(name string) (rec PoisonRecord, quarantined, stalled bool) {
	rec.Blob = name
	parts := strings.Split(name, "/")
	unescape := func(s string) string {
		if u, err := url.PathUnescape(s); err == nil {
			return u
		}
		return s
	}
	switch {
	case len(parts) == 3 && parts[0] == "no-instance":
		rec.Queue = unescape(parts[1])
		return rec, true, false
	case len(parts) >= 4 && parts[0] == "instances" && parts[2] == "quarantined":
		rec.InstanceID, rec.Queue = unescape(parts[1]), unescape(parts[3])
		return rec, true, false
	case len(parts) >= 4 && parts[0] == "instances" && parts[2] == "stalled":
		rec.InstanceID = unescape(parts[1])
		return rec, false, true
	}
	return rec, false, false
}
