package chaos

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Spec is one instance of a run and what it must end with.
type Spec struct {
	ID            string
	Kind          string
	Orchestration string
	Input         any
	// Want is the expected output, as JSON.
	Want string
	// Event, when set, is raised as "go" once the instance runs.
	Event *int
	// Child marks a sub-orchestration: started by its parent, not the
	// driver.
	Child bool
}

// Kinds are the workload's instance kinds, in the order Plan deals them.
var Kinds = []string{"chain", "fanout", "timer", "event", "suborchestration", "continueasnew", "caught"}

// Plan returns n top-level instances with ids "<prefix>-<kind>-<i>", the
// kinds dealt in turn with varying sizes, followed by the
// sub-orchestrations their parents start.
func Plan(prefix string, n int) []Spec {
	var out, children []Spec
	for i := 0; i < n; i++ {
		kind := Kinds[i%len(Kinds)]
		s := Spec{ID: fmt.Sprintf("%s-%s-%d", prefix, kind, i), Kind: kind}
		switch kind {
		case "chain":
			k := 4 + i%5
			s.Orchestration, s.Input, s.Want = Chain.Name(), k, strconv.Itoa(k*(k+1)/2)
		case "fanout":
			k := 5 + i%12
			s.Orchestration, s.Input, s.Want = FanOut.Name(), k, strconv.Itoa((k-1)*k*(2*k-1)/6)
		case "timer":
			ms := 500 + (i%5)*700
			s.Orchestration, s.Input, s.Want = Timer.Name(), ms, strconv.Itoa(ms+1)
		case "event":
			v := i * 7
			s.Orchestration, s.Input, s.Want, s.Event = Await.Name(), "", strconv.Itoa(v+1), &v
		case "suborchestration":
			k := 2 + i%3
			s.Orchestration, s.Input, s.Want = Parent.Name(), k, strconv.Itoa(6*k)
			for c := 0; c < k; c++ {
				children = append(children, Spec{ID: ChildID(s.ID, c), Kind: "child", Orchestration: Chain.Name(), Input: 3, Want: "6", Child: true})
			}
		case "continueasnew":
			k := 3 + i%4
			s.Orchestration, s.Input, s.Want = Counter.Name(), Round{0, k, 0}, strconv.Itoa(k*(k-1)/2)
		case "caught":
			in := "x" + strconv.Itoa(i)
			want, _ := json.Marshal("caught " + strconv.Itoa(len(in)))
			s.Orchestration, s.Input, s.Want = Caught.Name(), in, string(want)
		}
		out = append(out, s)
	}
	return append(out, children...)
}
