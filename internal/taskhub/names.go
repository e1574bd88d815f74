package taskhub

import (
	"fmt"
	"strings"
)

// Names are the names of every Azure Storage resource of one task hub, as
// DurableTask.AzureStorage derives them: queues and containers from the
// lower-cased hub name, tables from the hub name as given.
type Names struct {
	hub   string
	lower string
}

// NewNames validates a task hub name and returns its resource names.
func NewNames(hub string) (Names, error) {
	if err := ValidateName(hub); err != nil {
		return Names{}, err
	}
	return names(hub), nil
}

// MustNames is NewNames for names known to be valid; it panics otherwise.
func MustNames(hub string) Names {
	n, err := NewNames(hub)
	if err != nil {
		panic(err)
	}
	return n
}

func names(hub string) Names { return Names{hub: hub, lower: strings.ToLower(hub)} }

// TaskHub returns the task hub name as configured.
func (n Names) TaskHub() string { return n.hub }

// ControlQueue returns the name of control queue i: <hub>-control-NN.
func (n Names) ControlQueue(i int) string { return fmt.Sprintf("%s-control-%02d", n.lower, i) }

// ControlQueues returns the names of all control queues of a hub with the
// given partition count.
func (n Names) ControlQueues(partitions int) []string {
	out := make([]string, partitions)
	for i := range out {
		out[i] = n.ControlQueue(i)
	}
	return out
}

// ControlQueueFor returns the name of the control queue of an instance.
func (n Names) ControlQueueFor(instanceID string, partitions int) string {
	return n.ControlQueue(PartitionIndex(instanceID, partitions))
}

// WorkItemQueue returns the activity queue name: <hub>-workitems.
func (n Names) WorkItemQueue() string { return n.lower + "-workitems" }

// LargeMessagesContainer holds offloaded messages and table columns:
// <hub>-largemessages.
func (n Names) LargeMessagesContainer() string { return n.lower + "-largemessages" }

// PoisonContainer holds quarantined (poison) messages: <hub>-poison. It is
// ours; C# has none and leaves poison messages in their queues.
func (n Names) PoisonContainer() string { return n.lower + "-poison" }

// LeasesContainer holds blob partition leases and taskhub.json (blob lease
// managers only): <hub>-leases.
func (n Names) LeasesContainer() string { return n.lower + "-leases" }

// AppLeaseContainer is the container whose lease is the app lease:
// <hub>-applease.
func (n Names) AppLeaseContainer() string { return n.lower + "-applease" }

// AppLeaseInfoBlob is the blob inside AppLeaseContainer that names the
// owner: <hub>-appleaseinfo.
func (n Names) AppLeaseInfoBlob() string { return n.lower + "-appleaseinfo" }

// HistoryTable returns <Hub>History.
func (n Names) HistoryTable() string { return n.hub + "History" }

// InstancesTable returns <Hub>Instances.
func (n Names) InstancesTable() string { return n.hub + "Instances" }

// PartitionsTable returns <Hub>Partitions.
func (n Names) PartitionsTable() string { return n.hub + "Partitions" }

// Containers returns the names of every blob container of the hub that the
// C# layout and the poison quarantine use.
func (n Names) Containers() []string {
	return []string{n.LeasesContainer(), n.LargeMessagesContainer(), n.AppLeaseContainer(), n.PoisonContainer()}
}

// Tables returns the names of every table of the hub.
func (n Names) Tables() []string {
	return []string{n.HistoryTable(), n.InstancesTable(), n.PartitionsTable()}
}

// InvalidNameError says why a task hub name was refused.
type InvalidNameError struct {
	Name   string
	Reason string
}

func (e *InvalidNameError) Error() string {
	return fmt.Sprintf("invalid task hub name %q: %s", e.Name, e.Reason)
}

// ValidateName applies the Durable Functions rule (ASCII letters and
// digits only, starting with a letter, 3 to 45 characters) and checks that
// every derived queue, container and table name is valid for its service.
// The error, an *InvalidNameError, names the rule that was broken.
func ValidateName(hub string) error {
	bad := func(format string, args ...any) error {
		return &InvalidNameError{Name: hub, Reason: fmt.Sprintf(format, args...)}
	}
	if hub == "" {
		return bad("it is empty; a task hub name has 3 to 45 characters")
	}
	for i, c := range hub {
		if !isASCIILetter(c) && !(c >= '0' && c <= '9') {
			return bad("it may contain only ASCII letters and digits, but has %q at position %d", c, i+1)
		}
	}
	if !isASCIILetter(rune(hub[0])) {
		return bad("it must start with a letter, not %q", hub[0])
	}
	if len(hub) < 3 || len(hub) > 45 {
		return bad("it has %d characters; a task hub name has 3 to 45", len(hub))
	}
	n := names(hub)
	for _, q := range append(n.ControlQueues(MaxPartitions), n.WorkItemQueue()) {
		if err := validQueueOrContainer(q); err != nil {
			return bad("derived queue name %q is invalid: %v", q, err)
		}
	}
	for _, c := range n.Containers() {
		if err := validQueueOrContainer(c); err != nil {
			return bad("derived container name %q is invalid: %v", c, err)
		}
	}
	for _, t := range n.Tables() {
		if len(t) > 63 {
			return bad("derived table name %q is longer than 63 characters", t)
		}
	}
	return nil
}

func isASCIILetter(c rune) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

// validQueueOrContainer applies the shared rule of queue and container names:
// 3–63 characters, lower-case letters, digits and single hyphens, starting
// and ending with a letter or digit.
func validQueueOrContainer(s string) error {
	if len(s) < 3 || len(s) > 63 {
		return fmt.Errorf("length %d is outside 3..63", len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-':
			if i == 0 || i == len(s)-1 || s[i-1] == '-' {
				return fmt.Errorf("misplaced hyphen at %d", i+1)
			}
		default:
			return fmt.Errorf("character %q is not allowed", c)
		}
	}
	return nil
}
