package durable

import (
	"cmp"
	"slices"
)

func sortKeys[K cmp.Ordered](keys []K) { slices.Sort(keys) }
