package tables

import (
	"fmt"
	"strconv"

	"github.com/azdurable/azdurable/internal/taskhub"
)

// SentinelRowKey is the RowKey of the per-instance control row of the
// History table. It sorts after every hexadecimal event row key.
const SentinelRowKey = "sentinel"

// EscapePartitionKey turns an instance id into the PartitionKey of its
// History and Instances rows, as DurableTask.AzureStorage does ('^' becomes
// "^^", '/', '\', '#' and '?' become "^0" to "^3", control characters are
// shifted behind a '^'). The rule lives in the task hub core.
func EscapePartitionKey(id string) string { return taskhub.EscapePartitionKey(id) }

// UnescapePartitionKey reverses EscapePartitionKey, and decodes keys it
// never produces as C# decodes them.
func UnescapePartitionKey(key string) string { return taskhub.UnescapePartitionKey(key) }

// MaxKeyUnits is the longest PartitionKey or RowKey the Table service
// stores: 512 UTF-16 code units.
const MaxKeyUnits = taskhub.MaxKeyUnits

// PartitionKeyUnits returns the length, in UTF-16 code units, of the
// PartitionKey an instance id gets (EscapePartitionKey(id)): the figure the
// service compares with MaxKeyUnits.
func PartitionKeyUnits(id string) int { return taskhub.PartitionKeyUnits(id) }

// RowKeyFor returns the RowKey of the event at position seq (0-based) of an
// execution's history: 16 upper-case hexadecimal digits.
func RowKeyFor(seq int) string { return fmt.Sprintf("%016X", uint64(seq)) }

// ParseRowKey returns the sequence number of an event row key, and false for
// the sentinel and any key that is not 16 hexadecimal digits.
func ParseRowKey(rowKey string) (int, bool) {
	if len(rowKey) != 16 {
		return 0, false
	}
	n, err := strconv.ParseUint(rowKey, 16, 63)
	if err != nil {
		return 0, false
	}
	return int(n), true
}
