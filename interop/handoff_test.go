//go:build interop

package interop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/conformance"
	"github.com/azdurable/azdurable/internal/taskhub"
	"github.com/azdurable/azdurable/partition"
)

// Instances run part way on a Go worker, which then goes away (gracefully,
// or by SIGKILL with its leases held); a C# worker takes the hub over and
// finishes them all.
func TestHandOffToCSharp(t *testing.T) {
	dtfxRef(t)
	// The two variants use separate hubs and mostly wait on timers and
	// leases, so they run side by side.
	t.Run("graceful", func(t *testing.T) { t.Parallel(); handOff(t, false) })
	t.Run("sigkill", func(t *testing.T) { t.Parallel(); handOff(t, true) })
}

// partWay is an instance to leave half done on the Go worker.
type partWay struct {
	c        conformance.Case
	csStarts bool   // started by the C# client (else the Go client)
	reached  string // the state to reach before the Go worker stops
	// ready tells from the Go client's view whether the state is reached.
	ready func(st *client.State, h []history.Event) bool
	// timed is set for a state that a timer ends by itself: once seen, it
	// counts as reached, and so does a completion the polls did not catch
	// in the middle (a loaded machine can take longer than the timer to
	// bring every other instance half-way).
	timed bool
}

func hasEvent(h []history.Event, f func(history.Event) bool) bool { return slices.ContainsFunc(h, f) }

func handOff(t *testing.T, kill bool) {
	const partitions = 4
	began := time.Now()
	st := sharedStore(t)
	hub := newHub(t, st.acct)
	names := taskhub.MustNames(hub)
	tsvc, err := st.acct.TableService(nil)
	if err != nil {
		t.Fatal(err)
	}
	gc := goClient(t, st.acct, hub, partitions)
	c := newCS(t, st, hub, partitions)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	// C# creates the hub; the Go worker runs in this process, or in a child
	// process that can be killed.
	if err := c.run(3*time.Minute, false, nil, "create"); err != nil {
		t.Fatal(err)
	}
	goID := "go-handoff"
	var child *goChild
	var inproc *goWorker
	if kill {
		child = startGoChild(t, st, hub, partitions, goID, 15*time.Second)
	} else {
		inproc = startGoWorker(t, st.acct, hub, partitions, goID, nil)
	}
	waitOwners(t, ctx, tsvc, names, partitions, "the Go worker to own all partitions", func(owner string) bool { return owner == goID })

	p := "g"
	if kill {
		p = "k"
	}
	q := strconv.Quote
	flow := func(e string, n int) string {
		return fmt.Sprintf(`["Hello Tokyo!",%q,"Hello Seattle!","Hello London!","%d"]`, e, n)
	}
	large := strings.Repeat("zé", 36000) // 108 000 bytes of UTF-8 input, .NET length 72 000
	waiting := func(st *client.State, h []history.Event) bool {
		return st.Status == client.Running && hasEvent(h, func(ev history.Event) bool {
			tc, ok := ev.(*history.TaskCompletedEvent)
			return ok && tc.TaskScheduledID == 0
		}) && h[len(h)-1].Type() == history.OrchestratorCompleted
	}
	timerPending := func(st *client.State, h []history.Event) bool {
		return st.Status == client.Running && hasEvent(h, func(ev history.Event) bool { return ev.Type() == history.TimerCreated })
	}
	work := []partWay{
		{c: conformance.Case{ID: p + "-wait", Name: "InteropFlow", Input: q("x"), Status: "Completed", Output: flow("from-"+p, 1),
			Raise: []conformance.Raise{{InstanceID: p + "-wait", Event: "Continue", Data: q("from-" + p)}}},
			csStarts: !kill, reached: "SayHello(Tokyo) done, waiting for Continue", ready: waiting},
		{c: conformance.Case{ID: p + "-timer", Name: "Sleeper", Input: "60", Status: "Completed", Output: q("Hello Sleep!")},
			csStarts: kill, reached: "its 60 s timer created", ready: timerPending, timed: true},
		{c: conformance.Case{ID: p + "-large", Name: "InteropFlow", Input: q(large), Status: "Completed", Output: flow("big", 72000),
			Raise: []conformance.Raise{{InstanceID: p + "-large", Event: "Continue", Data: q("big")}}},
			csStarts: kill, reached: "waiting for Continue with a 108 kB input", ready: waiting},
		{c: conformance.Case{ID: p + "-pow", Name: "ParentOfWaiter", Input: q(p + "-pow-w"), Status: "Completed", Output: q("parent:went"),
			Raise: []conformance.Raise{{InstanceID: p + "-pow-w", Event: "Go", Data: q("went")}}},
			csStarts: !kill, reached: "its Waiter child running", ready: func(st *client.State, h []history.Event) bool {
				return st.Status == client.Running && hasEvent(h, func(ev history.Event) bool { return ev.Type() == history.SubOrchestrationInstanceCreated })
			}},
		{c: conformance.Case{ID: p + "-ticker", Name: "Ticker", Input: "0", Status: "Completed", Output: "3"},
			csStarts: kill, reached: "its second generation with a 20 s timer pending", ready: func(st *client.State, h []history.Event) bool {
				return st.Input != nil && *st.Input == "1" && timerPending(st, h)
			}, timed: true},
		{c: conformance.Case{ID: p + "-case", Name: "InteropFlow", Input: q("ab"), Status: "Completed", Output: flow("exact", 2),
			Raise: []conformance.Raise{{InstanceID: p + "-case", Event: "Continue", Data: q("exact")}}},
			csStarts: kill, reached: "waiting for Continue (then it gets an event named continue)", ready: waiting},
		{c: conformance.Case{ID: p + "-counter", Name: "Counter", Input: "0", Status: "Completed", Output: "2"},
			csStarts: !kill, reached: "completed by the Go worker (three generations in one work item)", ready: func(st *client.State, _ []history.Event) bool {
				return st.Status == client.Completed
			}},
	}
	for _, w := range work {
		startBy(t, w.csStarts, gc, c, w.c)
	}
	// The Waiter child must be reached too: its event is raised later.
	seen := map[string]bool{}
	poll(t, 3*time.Minute, "every instance to reach its half-way state on the Go worker", func() (bool, string, error) {
		var open []string
		for _, w := range work {
			if seen[w.c.ID] {
				continue
			}
			s, err := gc.GetState(ctx, w.c.ID, client.WithInputsAndOutputs(true))
			if errors.Is(err, client.ErrNotFound) {
				open = append(open, w.c.ID+": not found (to reach: "+w.reached+")")
				continue
			}
			if err != nil {
				return false, "", err
			}
			h, err := gc.History(ctx, w.c.ID, "")
			if err != nil {
				return false, "", err
			}
			switch {
			case w.ready(s, h):
				seen[w.c.ID] = w.timed
			case w.timed && s.Status == client.Completed:
				t.Logf("%s completed on the Go worker before every other instance was half-way", w.c.ID)
				seen[w.c.ID] = true
			default:
				open = append(open, fmt.Sprintf("%s: %s %s (to reach: %s)", w.c.ID, s.Status, eventTypes(h), w.reached))
			}
		}
		if s, err := gc.GetState(ctx, p+"-pow-w"); err != nil || s.Status != client.Running {
			open = append(open, fmt.Sprintf("%s-pow-w: %v %v (to reach: running)", p, s, err))
		}
		return len(open) == 0, strings.Join(open, "; "), nil
	})

	// An event whose name differs from the awaited one only in case is
	// ignored, as by the C# InteropFlow: the Go worker must not move on, or
	// C# cannot replay what it wrote.
	raiseBy(t, !kill, gc, c, conformance.Raise{InstanceID: p + "-case", Event: "continue", Data: q("wrong case")})
	poll(t, 3*time.Minute, p+"-case to record the event named continue without acting on it", func() (bool, string, error) {
		h, err := gc.History(ctx, p+"-case", "")
		if err != nil {
			return false, "", err
		}
		got := hasEvent(h, func(ev history.Event) bool {
			r, ok := ev.(*history.EventRaisedEvent)
			return ok && r.Name == "continue"
		})
		if acted := conformance.Actions(h, ""); len(acted) > 1 {
			return false, "", fmt.Errorf("the Go worker acted on an event named continue while InteropFlow waits for Continue: actions %v", acted)
		}
		return got && h[len(h)-1].Type() == history.OrchestratorCompleted, eventTypes(h), nil
	})

	// Continue-as-new as C# writes it: only the last generation reaches the
	// History table, from row 0, in one commit.
	goCounter := historyRows(t, ctx, tsvc, names, p+"-counter")
	checkSingleExecution(t, p+"-counter", goCounter, gc)
	checkSingleExecution(t, p+"-ticker", historyRows(t, ctx, tsvc, names, p+"-ticker"), gc)

	// The Go worker goes away.
	if kill {
		child.kill(t)
		rows, err := partition.ReadTable(ctx, tsvc, names.TaskHub())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.CurrentOwner != goID || !r.ExpiresAt.After(time.Now()) {
				t.Errorf("right after SIGKILL, %s should still be leased to the dead Go worker; owner %q, expires %v", r.Partition, r.CurrentOwner, r.ExpiresAt)
			}
		}
	} else {
		inproc.stop(t)
		rows, err := partition.ReadTable(ctx, tsvc, names.TaskHub())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.CurrentOwner != "" {
				t.Errorf("after the Go worker's graceful stop, %s still names %q", r.Partition, r.CurrentOwner)
			}
		}
	}
	stoppedAt := time.Now()

	// C# takes the hub over.
	csID := "cs-takeover-" + p
	w := startCSWorker(t, c, csID)
	waitOwners(t, ctx, tsvc, names, partitions, "the C# worker to own all partitions (after the Go leases expire where they were not released)",
		func(owner string) bool { return owner == csID })
	t.Logf("C# owned the hub %v after the Go worker stopped", time.Since(stoppedAt).Round(time.Millisecond))

	// The events, raised through the client the instance was not started
	// with.
	for _, pw := range work {
		for _, r := range pw.c.Raise {
			raiseBy(t, !pw.csStarts, gc, c, r)
		}
	}
	csCounter := conformance.Case{ID: p + "-cs-counter", Name: "Counter", Input: "0", Status: "Completed", Output: "2"}
	startBy(t, true, gc, c, csCounter)

	exps := []expect{fromCase(csCounter, "C# to run it")}
	for _, pw := range work {
		exps = append(exps, fromCase(pw.c, "C# to finish it"))
	}
	waitGo(t, gc, 3*time.Minute, exps)
	waitCS(t, c, 3*time.Minute, exps)
	w.checkNoNondeterminism(t)
	if w.SayHellos() == 0 {
		t.Errorf("the C# worker ran no SayHello: it did not finish the InteropFlow instances")
	}

	// C#'s and Go's continue-as-new leave the same rows.
	csRows := historyRows(t, ctx, tsvc, names, p+"-cs-counter")
	if a, b := rowShape(goCounter), rowShape(csRows); a != b {
		t.Errorf("Counter(0)'s History rows differ:\n  Go: %s\n  C#: %s", a, b)
	}
	// C# reads the histories with the actions of the contract.
	for _, k := range []struct{ id, actions string }{
		{p + "-wait", "#0 SayHello,#1 SayHello,#2 timer,#3 sub Child {exec}:3"},
		{p + "-ticker", "#0 timer"},
		{p + "-pow", "#0 sub Waiter " + p + "-pow-w"},
	} {
		exec, evs, err := c.history(k.id)
		if err != nil {
			t.Errorf("C# reading the history of %s: %v", k.id, err)
			continue
		}
		if got := strings.Join(conformance.Actions(evs, exec), ","); got != k.actions {
			t.Errorf("%s as C# reads it: actions %s, want %s", k.id, got, k.actions)
		}
	}
	w.stop(t)
	t.Logf("hand-off (%s) done in %v; the C# worker ran %d SayHello", map[bool]string{false: "graceful", true: "SIGKILL"}[kill],
		time.Since(began).Round(time.Millisecond), w.SayHellos())
}

// waitOwners waits until every partition row names an owner that mine
// accepts, with no pending hand-over.
func waitOwners(t *testing.T, ctx context.Context, tsvc *aztables.ServiceClient, names taskhub.Names, n int, what string, mine func(string) bool) {
	t.Helper()
	poll(t, 2*time.Minute, what, func() (bool, string, error) {
		rows, err := partition.ReadTable(ctx, tsvc, names.TaskHub())
		if errors.Is(err, partition.ErrNoPartitionsTable) {
			return false, "no Partitions table yet", nil
		}
		if err != nil {
			return false, "", err
		}
		ok := 0
		var desc []string
		for _, r := range rows {
			if mine(r.CurrentOwner) && r.NextOwner == "" {
				ok++
			}
			desc = append(desc, fmt.Sprintf("%s owner=%q next=%q expires=%s", r.Partition, r.CurrentOwner, r.NextOwner, r.ExpiresAt.Format(time.TimeOnly)))
		}
		return ok == n, strings.Join(desc, "; "), nil
	})
}

// historyRows reads every History row of an instance, sentinel included,
// as the table holds them.
func historyRows(t *testing.T, ctx context.Context, tsvc *aztables.ServiceClient, names taskhub.Names, id string) []map[string]any {
	t.Helper()
	tc := tsvc.NewClient(names.HistoryTable())
	pager := tc.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: to.Ptr(fmt.Sprintf("PartitionKey eq '%s'", id))})
	var rows []map[string]any
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatalf("reading the History rows of %s: %v", id, err)
		}
		for _, raw := range page.Entities {
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			rows = append(rows, m)
		}
	}
	return rows
}

// checkSingleExecution checks that every row of the instance belongs to
// the execution the Instances row names: continue-as-new committed only
// the last generation and nothing of the earlier ones survived.
func checkSingleExecution(t *testing.T, id string, rows []map[string]any, gc *client.Client) {
	t.Helper()
	st, err := gc.GetState(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r["ExecutionId"] != st.ExecutionID {
			t.Errorf("%s: row %v has ExecutionId %v, want only the last generation's %s (rows: %s)", id, r["RowKey"], r["ExecutionId"], st.ExecutionID, rowShape(rows))
		}
		if r["EventType"] == "ContinueAsNew" {
			t.Errorf("%s: row %v is a ContinueAsNew event; C# never writes one", id, r["RowKey"])
		}
		if r["EventType"] == "ExecutionStarted" {
			if _, ok := r["Generation"]; ok {
				t.Errorf("%s: the ExecutionStarted row has a Generation column; C# writes none after continue-as-new", id)
			}
		}
	}
}

// rowShape lists the rows' keys, event types and IsPlayed flags.
func rowShape(rows []map[string]any) string {
	var s []string
	for _, r := range rows {
		if r["RowKey"] == "sentinel" {
			s = append(s, "sentinel")
			continue
		}
		s = append(s, fmt.Sprintf("%v:%v/played=%v", r["RowKey"], r["EventType"], r["IsPlayed"]))
	}
	return strings.Join(s, " ")
}
