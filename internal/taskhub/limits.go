package taskhub

import (
	"errors"
	"time"
)

// Queue limits.
const (
	// MaxMessageBytes is the largest message text Azure queues accept
	// (64 KiB).
	MaxMessageBytes = 64 * 1024
	// MaxReceiveBatch is the most messages one receive (or peek) returns.
	MaxReceiveBatch = 32
	// MaxVisibilityDelay is the longest an Azure queue message can be
	// hidden (7 days): the longest delay of a send, of a visibility update,
	// and so the furthest ahead a timer message or a scheduled start can
	// be sent. Longer timers are split into pieces by the engine.
	MaxVisibilityDelay = 7 * 24 * time.Hour
)

// ErrDelayTooLong marks a message that would need a visibility delay over
// MaxVisibilityDelay, which Azure queues refuse.
var ErrDelayTooLong = errors.New("provider: visibility delay over 7 days (Azure queues refuse it; split long timers)")

// DelayTooLong reports whether a message delay is longer than Azure queues
// accept.
func DelayTooLong(d time.Duration) bool { return d > MaxVisibilityDelay }

// DueTooLate reports whether a message due at t, sent at now, would need a
// delay longer than Azure queues accept.
func DueTooLate(t, now time.Time) bool { return DelayTooLong(t.Sub(now)) }

// EarliestTableTime is the earliest date-time the Azure Table service
// stores: its Edm.DateTime range starts at 1601-01-01 UTC (the emulator
// accepts earlier ones, so only a real account would refuse them).
var EarliestTableTime = time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC)

// BeforeTableTimes reports whether t is earlier than any date-time a table
// row can hold.
func BeforeTableTimes(t time.Time) bool { return t.Before(EarliestTableTime) }

// DueAtStorable returns the time at which something due at t is recorded:
// t itself, or EarliestTableTime for a t before it. Both are long past, so
// what is due fires at once either way; the zero time.Time (year 1) is the
// usual case.
func DueAtStorable(t time.Time) time.Time {
	if BeforeTableTimes(t) {
		return EarliestTableTime
	}
	return t
}

// ClampDelay returns d limited to what a queue accepts: negative delays
// become 0, delays over MaxVisibilityDelay become MaxVisibilityDelay. It is
// for delays already validated (DueTooLate) whose clock moved on since, and
// for retries, where waiting the longest allowed is the right answer.
func ClampDelay(d time.Duration) time.Duration { return max(min(d, MaxVisibilityDelay), 0) }

// Table limits.
const (
	// MaxKeyUnits is the longest PartitionKey or RowKey the Table service
	// stores: 1 KiB of UTF-16, that is 512 code units. Azurite refuses
	// longer keys too.
	MaxKeyUnits = 512
	// MaxColumnUTF16Bytes is the size above which a large-value column is
	// moved to a blob: 61,440 bytes of UTF-16 (30,720 code units). The
	// service's 64 KiB property limit leaves headroom above it.
	MaxColumnUTF16Bytes = 61440
	// MaxBatchRows is the most event rows C# writes in one History
	// transaction: with the sentinel row it makes the service's limit of
	// 100 operations.
	MaxBatchRows = 99
	// MaxBatchBytes is the estimated size past which C# closes a History
	// transaction, below the service's 4 MiB payload limit.
	MaxBatchBytes = 3 << 20
)

// PartitionKeyUnits returns the length, in UTF-16 code units, of the
// PartitionKey an instance id gets (EscapePartitionKey(id)): the figure the
// service compares with MaxKeyUnits. An id of 300 '/' characters is 600
// units long once escaped.
func PartitionKeyUnits(id string) int { return UTF16Len(EscapePartitionKey(id)) }

// KeyFits reports whether an instance id's escaped PartitionKey fits the
// Table service's key limit.
func KeyFits(id string) bool { return PartitionKeyUnits(id) <= MaxKeyUnits }

// ExceedsColumnLimit reports whether a string value is too large to stay in
// its table column: more than MaxColumnUTF16Bytes of UTF-16.
func ExceedsColumnLimit(s string) bool {
	// A string of at most MaxColumnUTF16Bytes/2 bytes has at most that many
	// code units; skip counting the common small case.
	if len(s) <= MaxColumnUTF16Bytes/2 {
		return false
	}
	return 2*UTF16Len(s) > MaxColumnUTF16Bytes
}

// AbandonDelay returns C#'s back-off for abandoning a message that has been
// received dequeueCount times: 2^dequeueCount seconds, at most 600 s.
func AbandonDelay(dequeueCount int) time.Duration {
	if dequeueCount < 0 {
		dequeueCount = 0
	}
	if dequeueCount > 30 {
		return 600 * time.Second
	}
	d := time.Duration(1<<uint(dequeueCount)) * time.Second
	if d > 600*time.Second {
		d = 600 * time.Second
	}
	return d
}
