package partition

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"
)

// Listener is told about ownership changes of this worker's partitions.
// Calls for one partition are serialized and made in order; calls for
// different partitions may run concurrently. A Listener must not call back
// into the Manager from Acquired or Lost.
type Listener interface {
	// Acquired says this worker owns the partition now and may start
	// dequeuing from it.
	Acquired(partition string)
	// Drain says the partition is being handed over (another worker asked
	// for it, or this worker is stopping). The listener must stop dequeuing
	// at once, then finish or abandon its in-flight work and return. ctx
	// ends after [Options.DrainTimeout] (60 s by default), or earlier if the
	// lease could not be renewed meanwhile; the partition is released only
	// after Drain returns.
	Drain(ctx context.Context, partition string)
	// Lost says ownership ended without a hand-over: the lease was about to
	// expire unrenewed, or another owner appeared. The listener must stop
	// dequeuing at once; in-flight commits are fenced by the history ETags.
	Lost(partition string)
}

// Manager is a partition manager: it takes part in the ownership protocol
// of one task hub on behalf of one worker.
type Manager interface {
	// Start makes sure the hub's partition records exist (rows or lease
	// blobs), then runs the ownership loop in the background and returns.
	// ctx bounds the setup only; the loop runs until Stop.
	Start(ctx context.Context, l Listener) error
	// Stop is graceful: it stops dequeuing at once (Drain for every owned
	// partition), releases every partition once drained, and returns. If
	// ctx ends first, Stop abandons what is left (drains are cancelled,
	// unreleased leases expire on their own) and returns ctx's error.
	Stop(ctx context.Context) error
	// Owned returns, sorted, the partitions this worker currently dequeues
	// from: Acquired was reported and neither Drain nor Lost has been
	// decided since. Listener calls lag this view slightly.
	Owned() []string
}

// Defaults shared by both managers.
const (
	// DefaultSafetyMargin is how long before a lease would expire unrenewed
	// this worker stops dequeuing from its partition (5 s, against C#'s
	// 30 s table lease and 15 s ownership lease).
	DefaultSafetyMargin = 5 * time.Second
	// DefaultDrainTimeout bounds Listener.Drain, as C# bounds draining (60 s).
	DefaultDrainTimeout = 60 * time.Second
)

// Options are the settings both managers share. The zero value of every
// field means its default.
type Options struct {
	// WorkerID identifies this worker in rows and lease bodies. It must be
	// unique among the hub's workers (C# and Go) and should stay the same
	// while the process runs. Default: [DefaultWorkerID].
	WorkerID string
	// PartitionCount is how many partitions Start creates records for if
	// they are missing (1..16). Zero creates none and manages whatever
	// records exist.
	PartitionCount int
	// SafetyMargin: see [DefaultSafetyMargin].
	SafetyMargin time.Duration
	// DrainTimeout: see [DefaultDrainTimeout].
	DrainTimeout time.Duration
	// Logger receives the managers' logs. Default: slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.WorkerID == "" {
		o.WorkerID = DefaultWorkerID()
	}
	if o.SafetyMargin == 0 {
		o.SafetyMargin = DefaultSafetyMargin
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = DefaultDrainTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

func (o Options) validate() error {
	if o.PartitionCount < 0 || o.PartitionCount > 16 {
		return fmt.Errorf("partition: partition count %d is outside 0..16", o.PartitionCount)
	}
	if o.SafetyMargin < 0 || o.DrainTimeout < 0 {
		return errors.New("partition: SafetyMargin and DrainTimeout must not be negative")
	}
	return nil
}

// DefaultWorkerID returns "<hostname>-<pid>": unique on the host and stable
// for the lifetime of the process, so that two workers started by the same
// command on one machine never share an id (C#'s default, the bare machine
// name, would make them share partitions). A restarted process gets a new
// id, so its old rows and leases are taken over after they expire rather
// than resumed; set [Options.WorkerID] to a stable value to resume them.
func DefaultWorkerID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return host + "-" + strconv.Itoa(os.Getpid())
}

// ErrStarted is returned by Start when the manager was started before.
var ErrStarted = errors.New("partition: manager already started")

// ErrNotStarted is returned by Stop when Start has not succeeded.
var ErrNotStarted = errors.New("partition: manager not started")
