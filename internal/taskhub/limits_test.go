package taskhub

import (
	"strings"
	"testing"
	"time"
)

func TestVisibilityDelay(t *testing.T) {
	week := 7 * 24 * time.Hour
	if MaxVisibilityDelay != week {
		t.Fatalf("MaxVisibilityDelay = %v", MaxVisibilityDelay)
	}
	for d, tooLong := range map[time.Duration]bool{-time.Hour: false, 0: false, week: false, week + time.Nanosecond: true} {
		if DelayTooLong(d) != tooLong {
			t.Errorf("DelayTooLong(%v) = %v", d, !tooLong)
		}
	}
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	if DueTooLate(now.Add(week), now) || !DueTooLate(now.Add(week+time.Second), now) {
		t.Error("DueTooLate does not draw the line at 7 days")
	}
	for in, want := range map[time.Duration]time.Duration{-time.Second: 0, 0: 0, time.Minute: time.Minute, week: week, 2 * week: week} {
		if got := ClampDelay(in); got != want {
			t.Errorf("ClampDelay(%v) = %v, want %v", in, got, want)
		}
	}
}

func TestAbandonDelay(t *testing.T) {
	for n, want := range map[int]time.Duration{-1: time.Second, 0: time.Second, 1: 2 * time.Second, 5: 32 * time.Second,
		9: 512 * time.Second, 10: 600 * time.Second, 31: 600 * time.Second, 1 << 30: 600 * time.Second} {
		if got := AbandonDelay(n); got != want {
			t.Errorf("AbandonDelay(%d) = %v, want %v", n, got, want)
		}
	}
}

func TestColumnLimit(t *testing.T) {
	units := MaxColumnUTF16Bytes / 2
	if ExceedsColumnLimit(strings.Repeat("a", units)) || !ExceedsColumnLimit(strings.Repeat("a", units+1)) {
		t.Error("ASCII column limit is not at 30,720 code units")
	}
	// A character outside the BMP is two code units.
	if !ExceedsColumnLimit(strings.Repeat("😀", units/2+1)) || ExceedsColumnLimit(strings.Repeat("😀", units/2)) {
		t.Error("surrogate pairs are not counted as two code units")
	}
	long := strings.Repeat("/", MaxKeyUnits/2)
	if !KeyFits(long) || KeyFits(long+"/") {
		t.Error("KeyFits does not count the escaped key")
	}
}

func TestResourceKinds(t *testing.T) {
	n := MustNames("MyHub")
	for name, want := range map[string]string{n.ControlQueue(3): "control", n.WorkItemQueue(): "workitems", "elsewhere": "other"} {
		if got := QueueKind(name); got != want {
			t.Errorf("QueueKind(%s) = %s, want %s", name, got, want)
		}
	}
	for name, want := range map[string]string{n.HistoryTable(): "history", n.InstancesTable(): "instances", n.PartitionsTable(): "partitions", "Other": "other"} {
		if got := TableKind(name); got != want {
			t.Errorf("TableKind(%s) = %s, want %s", name, got, want)
		}
	}
	for name, want := range map[string]string{n.LargeMessagesContainer(): "largemessages", n.AppLeaseContainer(): "applease",
		n.LeasesContainer(): "leases", n.PoisonContainer(): "other"} {
		if got := ContainerKind(name); got != want {
			t.Errorf("ContainerKind(%s) = %s, want %s", name, got, want)
		}
	}
}

func TestNamesLists(t *testing.T) {
	n := MustNames("MyHub")
	if got := strings.Join(n.Containers(), ","); got != "myhub-leases,myhub-largemessages,myhub-applease,myhub-poison" {
		t.Errorf("Containers() = %s", got)
	}
	if got := strings.Join(n.Tables(), ","); got != "MyHubHistory,MyHubInstances,MyHubPartitions" {
		t.Errorf("Tables() = %s", got)
	}
}
