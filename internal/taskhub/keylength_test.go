package taskhub

import (
	"strings"
	"testing"
)

func TestPartitionKeyUnits(t *testing.T) {
	for id, want := range map[string]int{
		"":                       0,
		"abc":                    3,
		"a/b":                    4,
		"^":                      2,
		"\x01\x7f":               4,
		"é":                      1,
		"😀":                      2,
		strings.Repeat("/", 300): 600,
	} {
		if got := PartitionKeyUnits(id); got != want {
			t.Errorf("PartitionKeyUnits(%q) = %d, want %d", id, got, want)
		}
	}
}
