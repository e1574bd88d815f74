package taskhub

import (
	"fmt"
	"hash/fnv"
)

// MinPartitions and MaxPartitions bound the partition (control queue)
// count; DefaultPartitions is C#'s default.
const (
	MinPartitions     = 1
	MaxPartitions     = 16
	DefaultPartitions = 4
)

// ValidatePartitionCount checks the C# range 1..16.
func ValidatePartitionCount(n int) error {
	if n < MinPartitions || n > MaxPartitions {
		return fmt.Errorf("partition count %d is outside the allowed range %d..%d", n, MinPartitions, MaxPartitions)
	}
	return nil
}

// Hash returns the FNV-1a 32-bit hash of the UTF-8 bytes of s: C#'s hash
// of instance ids (partitions) and app names (app lease ids).
func Hash(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

// PartitionIndex returns the control-queue index of an instance id:
// FNV-1a(UTF-8 id) mod partitions, exactly as C# computes it.
func PartitionIndex(instanceID string, partitions int) int {
	return int(Hash(instanceID) % uint32(partitions))
}
