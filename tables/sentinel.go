package tables

import (
	"fmt"
	"time"
)

// Sentinel columns.
const (
	colCheckpointComplete  = "IsCheckpointComplete"
	colCheckpointCompleted = "CheckpointCompletedTimestamp"
)

// Sentinel is the decoded control row of an instance's history partition.
type Sentinel struct {
	// ExecutionID is the execution that made the latest checkpoint.
	ExecutionID string
	// IsCheckpointComplete is false while a multi-batch checkpoint is being
	// written. C# writes it but never reads it.
	IsCheckpointComplete bool
	// CheckpointCompleted is the time of the last completed checkpoint;
	// zero when the column is absent (C# reads DateTime.MinValue then).
	CheckpointCompleted time.Time
	// ETag is the concurrency token of the whole history: every history
	// transaction merges the sentinel with If-Match on it.
	ETag string
}

// SentinelRow builds the sentinel written as the last operation of every
// history transaction: ExecutionId, IsCheckpointComplete (true in the
// checkpoint's last batch) and, only when completedAt is not zero,
// CheckpointCompletedTimestamp. C# sets completedAt (to its clock) in the
// last batch only; because the row is merged, earlier values survive the
// intermediate batches. The first transaction of an instance inserts this
// row; later ones merge it with If-Match.
func SentinelRow(instanceID, executionID string, complete bool, completedAt time.Time) *Entity {
	e := &Entity{PartitionKey: EscapePartitionKey(instanceID), RowKey: SentinelRowKey}
	e.Set(colExecutionID, executionID)
	e.Set(colCheckpointComplete, complete)
	if !completedAt.IsZero() {
		e.Set(colCheckpointCompleted, completedAt.UTC())
	}
	return e
}

// IsSentinel reports whether e is the sentinel row of a history partition.
func IsSentinel(e *Entity) bool { return e.RowKey == SentinelRowKey }

// DecodeSentinel reads a sentinel row, keeping its ETag. Missing columns
// read as their zero values (rows written before IsCheckpointComplete
// existed lack it).
func DecodeSentinel(e *Entity) (*Sentinel, error) {
	if !IsSentinel(e) {
		return nil, fmt.Errorf("tables: row %q/%q is not a sentinel", e.PartitionKey, e.RowKey)
	}
	r := &colReader{e: e}
	s := &Sentinel{
		ExecutionID:          r.str(colExecutionID),
		IsCheckpointComplete: r.bool(colCheckpointComplete),
		CheckpointCompleted:  r.time(colCheckpointCompleted),
		ETag:                 e.ETag,
	}
	if r.err != nil {
		return nil, fmt.Errorf("tables: sentinel %q: %w", e.PartitionKey, r.err)
	}
	return s, nil
}
