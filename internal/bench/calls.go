package bench

import (
	"sort"

	"github.com/azdurable/azdurable/storage"
)

// calls is a set of storage-call counts that can be added up across
// counters and processes.
type calls struct {
	Counts   map[storage.CallKey]int64
	Failures map[storage.CallKey]int64
	Empty    int64
	Total    int64
}

func newCalls() calls {
	return calls{Counts: map[storage.CallKey]int64{}, Failures: map[storage.CallKey]int64{}}
}

func fromStats(s storage.CallStats) calls {
	c := newCalls()
	for k, v := range s.Counts {
		c.Counts[k] = v
	}
	for k, v := range s.Failures {
		c.Failures[k] = v
	}
	c.Empty, c.Total = s.EmptyPolls, s.Total
	return c
}

func (c *calls) add(o calls) {
	if c.Counts == nil {
		*c = newCalls()
	}
	for k, v := range o.Counts {
		c.Counts[k] += v
	}
	for k, v := range o.Failures {
		c.Failures[k] += v
	}
	c.Empty += o.Empty
	c.Total += o.Total
}

// minus returns c − o.
func (c calls) minus(o calls) calls {
	out := newCalls()
	for k, v := range c.Counts {
		if d := v - o.Counts[k]; d != 0 {
			out.Counts[k] = d
		}
	}
	for k, v := range c.Failures {
		if d := v - o.Failures[k]; d != 0 {
			out.Failures[k] = d
		}
	}
	out.Empty, out.Total = c.Empty-o.Empty, c.Total-o.Total
	return out
}

func (c calls) failures() int64 {
	n := int64(0)
	for _, v := range c.Failures {
		n += v
	}
	return n
}

// by sums the counts grouped by f.
func (c calls) by(f func(storage.CallKey) string) map[string]int64 {
	m := map[string]int64{}
	for k, v := range c.Counts {
		m[f(k)] += v
	}
	return m
}

// callEntry is the wire form of one count, for worker processes.
type callEntry struct {
	Service   string `json:"s"`
	Category  string `json:"c"`
	Operation string `json:"o"`
	Count     int64  `json:"n"`
	Failures  int64  `json:"f,omitempty"`
}

type callsWire struct {
	Entries []callEntry `json:"entries"`
	Empty   int64       `json:"empty"`
	Total   int64       `json:"total"`
}

func (c calls) wire() callsWire {
	w := callsWire{Empty: c.Empty, Total: c.Total}
	for k, v := range c.Counts {
		w.Entries = append(w.Entries, callEntry{Service: k.Service, Category: k.Category, Operation: k.Operation, Count: v, Failures: c.Failures[k]})
	}
	for k, v := range c.Failures {
		if _, ok := c.Counts[k]; !ok {
			w.Entries = append(w.Entries, callEntry{Service: k.Service, Category: k.Category, Operation: k.Operation, Failures: v})
		}
	}
	sort.Slice(w.Entries, func(i, j int) bool {
		a, b := w.Entries[i], w.Entries[j]
		return a.Service+a.Category+a.Operation < b.Service+b.Category+b.Operation
	})
	return w
}

func (w callsWire) calls() calls {
	c := newCalls()
	for _, e := range w.Entries {
		k := storage.CallKey{Service: e.Service, Category: e.Category, Operation: e.Operation}
		if e.Count != 0 {
			c.Counts[k] += e.Count
		}
		if e.Failures != 0 {
			c.Failures[k] += e.Failures
		}
	}
	c.Empty, c.Total = w.Empty, w.Total
	return c
}
