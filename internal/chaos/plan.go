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
	// ClientSignals are counters (Tally keys) the driver signals "add 1"
	// from its client once it started the instance.
	ClientSignals []string
}

// OrchestrationKinds are the kinds of the orchestration and activity
// work, EntityKinds those of the entity work (see entities.go).
var (
	OrchestrationKinds = []string{"chain", "fanout", "timer", "event", "suborchestration", "continueasnew", "caught"}
	EntityKinds        = []string{"entitysignal", "entitycall", "transfer"}
)

// Kinds are the workload's instance kinds, in the order Plan deals them.
var Kinds = append(append([]string(nil), OrchestrationKinds...), EntityKinds...)

// Plan returns n top-level instances of the orchestration kinds with ids
// "<prefix>-<kind>-<i>", the kinds dealt in turn with varying sizes,
// followed by the sub-orchestrations their parents start.
func Plan(prefix string, n int) []Spec { return PlanKinds(prefix, n, OrchestrationKinds) }

// PlanKinds is Plan with the kinds dealt (a subset of Kinds; a Run deals
// all of them unless Config.Kinds says otherwise).
func PlanKinds(prefix string, n int, kinds []string) []Spec {
	var out, children []Spec
	nth := map[string]int{}
	for i := 0; i < n; i++ {
		kind := kinds[i%len(kinds)]
		nth[kind]++
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
		default:
			entitySpec(&s, kind, nth[kind]-1)
		}
		out = append(out, s)
	}
	return append(out, children...)
}
