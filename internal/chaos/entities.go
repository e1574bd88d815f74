package chaos

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/internal/ctxsleep"
)

// The entity part of the workload. Counters (Tally entities with keys
// "c<i>") receive "add 1" signals from clients (the driver) and from
// orchestrations, and "add 1" calls from orchestrations; each must end
// equal to the number of operations sent to it. Accounts (keys "a<i>")
// receive transfers: an orchestration locks a pair of accounts, reads both
// balances, writes both back moved by an amount, and releases the pair.
// The amounts are known in advance, so every account's final balance is,
// and the balances sum to 0; a lost, repeated or interleaved (unlocked)
// operation shows as a wrong counter, a wrong balance or a sum that moved.

// Tally is the workload's entity: an int with add, set and get.
var Tally = durable.NewEntity[int]("ChaosTally",
	durable.Op("add", func(ctx *durable.EntityContext[int], n int) (struct{}, error) {
		ctx.SetState(ctx.State() + n)
		return struct{}{}, nil
	}),
	durable.Op("set", func(ctx *durable.EntityContext[int], n int) (struct{}, error) {
		ctx.SetState(n)
		return struct{}{}, nil
	}),
	durable.Op("get", func(ctx *durable.EntityContext[int], _ any) (int, error) { return ctx.State(), nil }),
)

// EntityCounters and EntityAccounts are how many counters and accounts a
// run's entity work spreads over (few, so that operations contend).
const (
	EntityCounters = 6
	EntityAccounts = 5
)

// CounterKey and AccountKey name the i-th counter and account.
func CounterKey(i int) string { return "c" + strconv.Itoa(i) }

// AccountKey names the i-th account.
func AccountKey(i int) string { return "a" + strconv.Itoa(i) }

// Adds is the input of EntitySignals and EntityCalls: one "add 1" to
// Keys[i % len(Keys)] for i < N.
type Adds struct {
	Keys []string
	N    int
}

// EntitySignals signals "add 1" N times to its counters and returns N.
var EntitySignals = durable.NewOrchestration("ChaosEntitySignals", func(ctx durable.Context, a Adds) (int, error) {
	for i := 0; i < a.N; i++ {
		if err := durable.SignalEntity(ctx, Tally.ID(a.Keys[i%len(a.Keys)]), "add", 1); err != nil {
			return 0, err
		}
		if i == a.N/2 {
			// An activity in the middle spreads the signals over episodes.
			if _, err := Add.Call(ctx, Pair{i, 0}).Await(ctx); err != nil {
				return 0, err
			}
		}
	}
	return a.N, nil
})

// EntityCalls calls "add 1" N times on its counters, two calls at a time,
// and returns N.
var EntityCalls = durable.NewOrchestration("ChaosEntityCalls", func(ctx durable.Context, a Adds) (int, error) {
	for i := 0; i < a.N; i += 2 {
		fs := []durable.Future[any]{durable.CallEntity[any](ctx, Tally.ID(a.Keys[i%len(a.Keys)]), "add", 1)}
		if i+1 < a.N {
			fs = append(fs, durable.CallEntity[any](ctx, Tally.ID(a.Keys[(i+1)%len(a.Keys)]), "add", 1))
		}
		if _, err := durable.WhenAllOf(ctx, fs...); err != nil {
			return 0, err
		}
	}
	return a.N, nil
})

// Moves is the input of Transfer: move each amount from From to To.
type Moves struct {
	From, To string
	Amounts  []int
}

// Transfer moves each amount from one account to the other in a critical
// section of its own (lock both, get both, an activity, set both,
// release), and returns the number of moves. The last section is left to
// the orchestration's end to release.
var Transfer = durable.NewOrchestration("ChaosTransfer", func(ctx durable.Context, m Moves) (int, error) {
	from, to := Tally.ID(m.From), Tally.ID(m.To)
	for i, amount := range m.Amounts {
		cs, err := durable.LockEntities(ctx, from, to)
		if err != nil {
			return 0, err
		}
		a, b := durable.CallEntity[int](ctx, from, "get", nil), durable.CallEntity[int](ctx, to, "get", nil)
		va, err := a.Await(ctx)
		if err != nil {
			return 0, err
		}
		vb, err := b.Await(ctx)
		if err != nil {
			return 0, err
		}
		// An activity inside the section keeps the locks held across
		// episodes (and across kills).
		moved, err := Add.Call(ctx, Pair{amount, 0}).Await(ctx)
		if err != nil {
			return 0, err
		}
		sa, sb := durable.CallEntity[any](ctx, from, "set", va-moved), durable.CallEntity[any](ctx, to, "set", vb+moved)
		if _, err := durable.WhenAllOf(ctx, sa, sb); err != nil {
			return 0, err
		}
		if i < len(m.Amounts)-1 {
			if err := cs.Release(); err != nil {
				return 0, err
			}
		}
	}
	return len(m.Amounts), nil
})

func entityRegistrations() []durable.Registrable {
	return []durable.Registrable{Tally, EntitySignals, EntityCalls, Transfer}
}

// entitySpec fills s, the i-th instance of an entity kind (counted per
// kind, so that the keys and sizes cycle whatever the kinds dealt).
func entitySpec(s *Spec, kind string, i int) {
	keys := func(n int) []string {
		out := make([]string, n)
		for j := range out {
			out[j] = CounterKey((i + j) % EntityCounters)
		}
		return out
	}
	switch kind {
	case "entitysignal":
		a := Adds{Keys: keys(3), N: 6 + i%7}
		s.Orchestration, s.Input, s.Want = EntitySignals.Name(), a, strconv.Itoa(a.N)
		// The driver signals the same counters from its client as well.
		s.ClientSignals = keys(2)
	case "entitycall":
		a := Adds{Keys: keys(2), N: 4 + i%5}
		s.Orchestration, s.Input, s.Want = EntityCalls.Name(), a, strconv.Itoa(a.N)
	case "transfer":
		j := i % EntityAccounts
		m := Moves{From: AccountKey(j), To: AccountKey((j + 1) % EntityAccounts)}
		if i%2 == 1 {
			m.From, m.To = m.To, m.From // both orders, to the same pairs
		}
		for k := 0; k < 2+i%3; k++ {
			m.Amounts = append(m.Amounts, 1+(i*7+k*3)%20)
		}
		s.Orchestration, s.Input, s.Want = Transfer.Name(), m, strconv.Itoa(len(m.Amounts))
	}
}

// EntityPlan is what a plan's entity work must leave behind: the final
// value of every counter and account it touches.
type EntityPlan struct {
	// Want maps a Tally key to its expected final value.
	Want map[string]int
}

// PlanEntities returns what the entity instances of plan must leave
// behind (an empty plan when it has none).
func PlanEntities(plan []Spec) EntityPlan {
	want := map[string]int{}
	for _, s := range plan {
		switch in := s.Input.(type) {
		case Adds:
			for i := 0; i < in.N; i++ {
				want[in.Keys[i%len(in.Keys)]]++
			}
		case Moves:
			for _, x := range in.Amounts {
				want[in.From] -= x
				want[in.To] += x
			}
		}
		for _, k := range s.ClientSignals {
			want[k]++
		}
	}
	return EntityPlan{Want: want}
}

// keys lists the plan's keys that start with prefix, sorted.
func (p EntityPlan) keys(prefix string) []string {
	var out []string
	for k := range p.Want {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// EntityOutcome is what the entity checks found.
type EntityOutcome struct {
	// Counters, CounterOperations: the counters and the operations sent to
	// them (client signals, orchestration signals and calls).
	Counters          int `json:"counters"`
	CounterOperations int `json:"counterOperations"`
	ClientSignals     int `json:"clientSignals"`
	// ClientSignalRetries counts client signals sent again after an error
	// (one that had reached the queue would count twice).
	ClientSignalRetries int `json:"clientSignalRetries"`
	// LostOperations and RepeatedOperations sum, over the counters, how far
	// below and above the operations sent to them they ended.
	LostOperations     int `json:"lostOperations"`
	RepeatedOperations int `json:"repeatedOperations"`
	// Accounts and Transfers: the accounts and the moves between them;
	// TransferSum is the sum of their balances (0 when conserved) and
	// WrongBalances counts accounts whose balance is not the expected one.
	Accounts      int `json:"accounts"`
	Transfers     int `json:"transfers"`
	TransferSum   int `json:"transferSum"`
	WrongBalances int `json:"wrongBalances"`
	// Locked and Queued count entities left locked or with queued
	// requests after every orchestration ended.
	Locked int `json:"lockedAfterwards"`
	Queued int `json:"queuedAfterwards"`
	// Unreadable counts entities whose state could not be read.
	Unreadable int `json:"unreadable"`
	// Problems lists the first 20 entity problems.
	Problems []string `json:"problems"`
}

// OK reports whether the entity invariants hold.
func (o *EntityOutcome) OK() bool {
	return o == nil || (o.LostOperations == 0 && o.RepeatedOperations == 0 && o.TransferSum == 0 && o.WrongBalances == 0 &&
		o.Locked == 0 && o.Queued == 0 && o.Unreadable == 0)
}

func (o *EntityOutcome) problem(format string, args ...any) {
	if len(o.Problems) < 20 {
		o.Problems = append(o.Problems, fmt.Sprintf(format, args...))
	}
}

// settled reports whether every planned entity reached its value with no
// lock and nothing queued.
func settled(ctx context.Context, c *client.Client, p EntityPlan) bool {
	for _, k := range p.keys("") {
		m, err := c.GetEntity(ctx, Tally.ID(k))
		if err != nil || m.LockedBy != "" || m.QueueSize > 0 {
			return false
		}
		var v int
		if m.State != nil {
			if err := m.DecodeState(&v); err != nil {
				return false
			}
		}
		if v != p.Want[k] {
			return false
		}
	}
	return true
}

// WaitEntities waits, up to d, until every planned entity holds its
// expected value, unlocked and with nothing queued (signals from clients
// and from orchestrations that ended may still be on their way when the
// last orchestration ends). It returns whether they settled.
func WaitEntities(ctx context.Context, c *client.Client, p EntityPlan, d time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for !settled(ctx, c, p) {
		if !ctxsleep.Sleep(ctx, time.Second) {
			return false
		}
	}
	return true
}

// CheckEntities reads every planned entity once and compares it with the
// plan.
func CheckEntities(ctx context.Context, c *client.Client, plan []Spec, p EntityPlan) *EntityOutcome {
	o := &EntityOutcome{Problems: []string{}}
	for _, s := range plan {
		switch s.Kind {
		case "entitysignal", "entitycall":
			o.CounterOperations += s.Input.(Adds).N + len(s.ClientSignals)
			o.ClientSignals += len(s.ClientSignals)
		case "transfer":
			o.Transfers += len(s.Input.(Moves).Amounts)
		}
	}
	for _, k := range p.keys("") {
		m, err := c.GetEntity(ctx, Tally.ID(k))
		if err != nil {
			o.Unreadable++
			o.problem("%s: %v", k, err)
			continue
		}
		if m.LockedBy != "" {
			o.Locked++
			o.problem("%s: still locked by %s", k, m.LockedBy)
		}
		if m.QueueSize > 0 {
			o.Queued++
			o.problem("%s: %d requests still queued", k, m.QueueSize)
		}
		var v int
		if m.State != nil {
			if err := m.DecodeState(&v); err != nil {
				o.Unreadable++
				o.problem("%s: %v", k, err)
				continue
			}
		}
		want := p.Want[k]
		if strings.HasPrefix(k, "a") {
			o.Accounts++
			o.TransferSum += v
			if v != want {
				o.WrongBalances++
				o.problem("account %s: balance %d, want %d", k, v, want)
			}
			continue
		}
		o.Counters++
		switch {
		case v < want:
			o.LostOperations += want - v
			o.problem("counter %s: %d, want %d (%d operations lost)", k, v, want, want-v)
		case v > want:
			o.RepeatedOperations += v - want
			o.problem("counter %s: %d, want %d (%d operations repeated)", k, v, want, v-want)
		}
	}
	return o
}

// dumpEntities writes the scheduler state of every planned entity (its
// instance's input) to entity-<key>.txt in dir, for a run whose entity
// checks failed.
func dumpEntities(ctx context.Context, c *client.Client, p EntityPlan, dir string) {
	for _, k := range p.keys("") {
		st, err := c.GetState(ctx, Tally.ID(k).InstanceID(), client.WithInputsAndOutputs(true))
		text := ""
		switch {
		case err != nil:
			text = err.Error()
		case st != nil:
			text = fmt.Sprintf("status %s updated %s\ncustom status %s\ninput %s\n", st.Status,
				st.LastUpdatedAt.Format(time.RFC3339Nano), deref(st.CustomStatus), deref(st.Input))
		}
		_ = os.WriteFile(filepath.Join(dir, "entity-"+k+".txt"), []byte(text), 0o644)
	}
}
