package chaos

import "testing"

// TestPlanEntities checks the entity part of a plan: every counter and
// every account pair is used, whichever kinds are dealt, the planned
// balances sum to 0, and the counters' expected values add up to the
// operations sent.
func TestPlanEntities(t *testing.T) {
	for _, kinds := range [][]string{Kinds, EntityKinds} {
		plan := PlanKinds("p", 200, kinds)
		want := PlanEntities(plan).Want
		ops, sum, pairs := 0, 0, map[[2]string]bool{}
		for _, s := range plan {
			switch in := s.Input.(type) {
			case Adds:
				ops += in.N + len(s.ClientSignals)
			case Moves:
				a, b := min(in.From, in.To), max(in.From, in.To)
				pairs[[2]string{a, b}] = true
			}
		}
		counted := 0
		for k, v := range want {
			switch k[0] {
			case 'c':
				counted += v
			case 'a':
				sum += v
			}
		}
		if counted != ops || sum != 0 || len(pairs) != EntityAccounts {
			t.Errorf("kinds %v: counters hold %d of %d operations, balances sum to %d, %d account pairs used (want %d)",
				kinds, counted, ops, sum, len(pairs), EntityAccounts)
		}
		for i := 0; i < EntityCounters; i++ {
			if want[CounterKey(i)] == 0 {
				t.Errorf("kinds %v: counter %s unused", kinds, CounterKey(i))
			}
		}
	}
}
