package provider

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/history"
)

var t0 = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

// rows builds a history from a compact notation, one token per row:
// OS OC ES, TS#n TC#n TF#n (activity), TC<n (timer created, due at t0),
// TF>n (timer fired), SC#n:id SD#n SX#n (sub created, done, failed), ES#n
// (event sent), ER (event raised), EC:F / EC:C (completed failed or
// completed), GE (a GenericEvent), and a leading "~" for a row an earlier
// rewind rewrote, "!" for a marked sub creation.
func rows(spec string) []RewindRow {
	var out []RewindRow
	for _, tok := range strings.Fields(spec) {
		var r RewindRow
		switch tok[0] {
		case '~':
			r.Rewound, tok = true, tok[1:]
		case '!':
			r.Marked, tok = true, tok[1:]
		}
		id := func() int32 {
			n := int32(0)
			for _, c := range tok[3:] {
				if c == ':' {
					break
				}
				n = n*10 + int32(c-'0')
			}
			return n
		}
		b := func(eid int32) history.EventBase { return history.EventBase{EventID: eid, Timestamp: t0} }
		switch {
		case tok == "OS":
			r.Event = &history.OrchestratorStartedEvent{EventBase: b(-1)}
		case tok == "OC":
			r.Event = &history.OrchestratorCompletedEvent{EventBase: b(-1)}
		case tok == "ES":
			r.Event = &history.ExecutionStartedEvent{Name: "O", OrchestrationInstance: history.OrchestrationInstance{InstanceID: "p", ExecutionID: "e"}, EventBase: b(-1)}
		case tok == "ER":
			r.Event = &history.EventRaisedEvent{Name: "x", EventBase: b(-1)}
		case tok == "GE":
			r.Event = &history.GenericEvent{EventBase: b(-1)}
		case tok == "EC:F":
			r.Event = &history.ExecutionCompletedEvent{OrchestrationStatus: history.StatusFailed, EventBase: b(9)}
		case tok == "EC:C":
			r.Event = &history.ExecutionCompletedEvent{OrchestrationStatus: history.StatusCompleted, EventBase: b(9)}
		case strings.HasPrefix(tok, "TS#"):
			r.Event = &history.TaskScheduledEvent{Name: "A", EventBase: b(id())}
		case strings.HasPrefix(tok, "TC#"):
			r.Event = &history.TaskCompletedEvent{TaskScheduledID: id(), EventBase: b(-1)}
		case strings.HasPrefix(tok, "TF#"):
			r.Event = &history.TaskFailedEvent{TaskScheduledID: id(), EventBase: b(-1)}
		case strings.HasPrefix(tok, "TC<"):
			r.Event = &history.TimerCreatedEvent{FireAt: t0, EventBase: b(id())}
		case strings.HasPrefix(tok, "TF>"):
			r.Event = &history.TimerFiredEvent{TimerID: id(), FireAt: t0, EventBase: b(-1)}
		case strings.HasPrefix(tok, "SC#"):
			child := tok[strings.Index(tok, ":")+1:]
			r.Event = &history.SubOrchestrationInstanceCreatedEvent{Name: "C", InstanceID: child, EventBase: b(id())}
		case strings.HasPrefix(tok, "SD#"):
			r.Event = &history.SubOrchestrationInstanceCompletedEvent{TaskScheduledID: id(), EventBase: b(-1)}
		case strings.HasPrefix(tok, "SX#"):
			r.Event = &history.SubOrchestrationInstanceFailedEvent{TaskScheduledID: id(), EventBase: b(-1)}
		case strings.HasPrefix(tok, "ES#"):
			r.Event = &history.EventSentEvent{Name: "e", InstanceID: "t", EventBase: b(id())}
		default:
			panic("bad token " + tok)
		}
		out = append(out, r)
	}
	return out
}

func hist(status history.OrchestrationStatus, spec string) *RewindHistory {
	return &RewindHistory{InstanceID: "p", ExecutionID: "e", State: &history.OrchestrationState{Status: status}, Rows: rows(spec)}
}

// A child whose status says it runs is ending when its history records
// its end, or when its parent holds its failure and it was never rewound.
func TestChildEnding(t *testing.T) {
	for _, tc := range []struct {
		spec                  string
		parentHoldsItsFailure bool
		want                  bool
	}{
		{"OS ES TS#0 OC OS TF#0 EC:F OC", false, true},
		{"OS ES TS#0 OC OS TC#0 EC:C OC", false, true},
		{"OS ES TS#0 OC", true, true},
		{"OS ES TS#0 OC", false, false},
		// Rewound by itself: it runs again and answers anew.
		{"OS ES ~TS#0 OC OS ~TF#0 ~EC:F OC OS GE TS#0 OC", true, false},
		// Failed again after that rewind, its status not written yet.
		{"OS ES ~TS#0 OC OS ~TF#0 ~EC:F OC OS GE TS#0 OC OS TF#0 EC:F OC", true, true},
	} {
		if got := ChildEnding(hist(history.StatusRunning, tc.spec), tc.parentHoldsItsFailure); got != tc.want {
			t.Errorf("%q, parent holds its failure %v: %v, want %v", tc.spec, tc.parentHoldsItsFailure, got, tc.want)
		}
	}
}

func TestRewindModeOf(t *testing.T) {
	for _, tc := range []struct {
		status history.OrchestrationStatus
		spec   string
		want   RewindMode
	}{
		{history.StatusFailed, "OS ES TS#0 OC OS TF#0 EC:F OC", RewindFailed},
		{history.StatusCompleted, "OS ES TS#0 OC OS TC#0 EC:C OC", RewindRefused},
		{history.StatusRunning, "OS ES TS#0 OC", RewindRefused},
		{history.StatusPending, "", RewindRefused},
		{history.StatusTerminated, "OS ES OC", RewindRefused},
		// A status that says Failed for a history that does not end so (a
		// stale row) is refused, and so is the reverse.
		{history.StatusFailed, "OS ES TS#0 OC", RewindRefused},
		{history.StatusRunning, "OS ES TS#0 OC OS TF#0 EC:F OC", RewindRefused},
		// Rewound rows without completion: an earlier rewind stopped
		// half-way (status still Failed) or the rewound instance runs
		// (C# leaves it Pending).
		{history.StatusFailed, "OS ES ~TS#0 OC OS ~TF#0 ~EC:F OC", RewindResume},
		{history.StatusPending, "OS ES ~TS#0 OC OS ~TF#0 ~EC:F OC OS GE TS#0 OC", RewindResume},
		{history.StatusPending, "OS ES !SC#0:c OC OS ~SX#0 ~EC:F OC", RewindResume},
		{history.StatusRunning, "OS ES ~TS#0 OC OS ~TF#0 ~EC:F OC OS GE TS#0 OC", RewindRefused},
		// Failed again after a rewind.
		{history.StatusFailed, "OS ES ~TS#0 OC OS ~TF#0 ~EC:F OC OS GE TS#0 OC OS TF#0 EC:F OC", RewindFailed},
	} {
		if got := RewindModeOf(hist(tc.status, tc.spec)); got != tc.want {
			t.Errorf("%s %q: %s, want %s", tc.status, tc.spec, got, tc.want)
		}
	}
}

func TestPlanRewind(t *testing.T) {
	type sub struct {
		row    int
		id     string
		failed bool
	}
	for _, tc := range []struct {
		name      string
		mode      RewindMode
		spec      string
		rewrite   []int
		subs      []sub
		recreated []string
		err       string
	}{
		{name: "activity (as C#)", spec: "OS ES TS#0 OC OS TF#0 EC:F OC", rewrite: []int{2, 5, 6}},
		{name: "sub-orchestration (as C#)", spec: "OS ES SC#0:c OC OS SX#0 EC:F OC", rewrite: []int{5, 6},
			subs: []sub{{2, "c", true}}},
		{name: "fan-out: only the failed task (as C#)",
			spec:    "OS ES TS#0 TS#1 TS#2 OC OS TC#0 OC OS TF#1 OC OS TC#2 EC:F OC",
			rewrite: []int{3, 10, 14}},
		{name: "failure and completion in one episode (as C#)", spec: "OS ES TS#0 TS#1 OC OS TC#0 TF#1 EC:F OC",
			rewrite: []int{3, 7, 8}},
		{name: "retries: the timers and later attempts too",
			//      0  1  2    3  4  5    6    7  8  9    10   11 12 13   14   15 16 17    18   19
			spec:    "OS ES TS#0 OC OS TF#0 TC<1 OC OS TF>1 TS#2 OC OS TF#2 TC<3 OC OS TF>3 EC:F OC",
			rewrite: []int{2, 5, 6, 9, 10, 13, 14, 17, 18}},
		{name: "a caught failure, then work that failed",
			spec:    "OS ES TS#0 OC OS TF#0 TS#1 ES#2 OC OS TF#1 EC:F OC",
			rewrite: []int{2, 5, 6, 7, 10, 11}},
		{name: "a sub-orchestration after the first failure is created again",
			spec:    "OS ES TS#0 OC OS TF#0 SC#1:c OC OS SD#1 EC:F OC",
			rewrite: []int{2, 5, 6, 9, 10}, recreated: []string{"c"}},
		{name: "an activity that never answered runs again",
			spec:    "OS ES TS#0 TS#1 OC OS TF#0 EC:F OC",
			rewrite: []int{2, 3, 6, 7}},
		{name: "a due timer that never fired is created again; events stay",
			spec:    "OS ES TS#0 TC<1 OC OS ER TF#0 EC:F OC",
			rewrite: []int{2, 3, 7, 8}},
		{name: "a sub-orchestration that never answered is looked at",
			spec:    "OS ES SC#0:w SC#1:c OC OS SX#1 EC:F OC",
			rewrite: []int{6, 7}, subs: []sub{{3, "c", true}, {2, "w", false}}},
		{name: "the failure of the orchestration code itself (as C#)", spec: "OS ES TS#0 OC OS TC#0 EC:F OC", rewrite: []int{6}},
		{name: "C#'s rewind of retries, failed again for non-determinism: the timers too",
			// C#'s failing replay records the new attempt #0 with its failure.
			spec:    "OS ES ~TS#0 OC OS ~TF#0 TC<1 OC OS TF>1 ~TS#2 OC OS ~TF#2 TC<3 OC OS TF>3 ~EC:F OC OS GE TS#0 EC:F OC",
			rewrite: []int{6, 9, 14, 17, 22, 23}},
		{name: "a second rewind after the first one ran: old marks are done",
			spec:    "OS ES ~TS#0 OC OS ~TF#0 ~EC:F OC OS GE TS#0 OC OS TF#0 EC:F OC",
			rewrite: []int{10, 13, 14}},
		{name: "half-way: the rows before were rewritten, the completion not",
			spec:    "OS ES ~TS#0 OC OS ~TF#0 EC:F OC",
			rewrite: []int{6}},
		{name: "resume: nothing left to rewrite", mode: RewindResume,
			spec: "OS ES ~TS#0 OC OS ~TF#0 ~EC:F OC"},
		{name: "resume: marked children are looked at again", mode: RewindResume,
			spec: "OS ES !SC#0:c OC OS ~SX#0 ~EC:F OC", subs: []sub{{2, "c", true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mode := tc.mode
			if mode == 0 {
				mode = RewindFailed
			}
			p, err := PlanRewind(hist(history.StatusFailed, tc.spec), mode, t0.Add(time.Minute))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p.Rewrite, tc.rewrite) && (len(p.Rewrite) > 0 || len(tc.rewrite) > 0) {
				t.Errorf("rewrite %v, want %v", p.Rewrite, tc.rewrite)
			}
			var subs []sub
			for _, s := range p.Subs {
				subs = append(subs, sub{s.Row, s.InstanceID, s.Failed})
			}
			if !reflect.DeepEqual(subs, tc.subs) {
				t.Errorf("subs %v, want %v", subs, tc.subs)
			}
			var rec []string
			for _, s := range p.Recreated {
				rec = append(rec, s.InstanceID)
			}
			if !reflect.DeepEqual(rec, tc.recreated) {
				t.Errorf("recreated %v, want %v", rec, tc.recreated)
			}
		})
	}
}

func TestPlanRewindWaitsForLaterTimers(t *testing.T) {
	h := hist(history.StatusFailed, "OS ES TS#0 OC OS TF#0 TC<1 EC:F OC")
	h.Rows[6].Event.(*history.TimerCreatedEvent).FireAt = t0.Add(time.Hour)
	_, err := PlanRewind(h, RewindFailed, t0.Add(time.Minute))
	if err == nil || !strings.Contains(err.Error(), "must wait until 2026-12-06T13:00:00Z") {
		t.Fatalf("a timer after the first failure that is not due: %v", err)
	}
	// The same timer created before the first failure stays: its
	// TimerFired will come.
	h = hist(history.StatusFailed, "OS ES TS#0 TC<1 OC OS TF#0 EC:F OC")
	h.Rows[3].Event.(*history.TimerCreatedEvent).FireAt = t0.Add(time.Hour)
	p, err := PlanRewind(h, RewindFailed, t0.Add(time.Minute))
	if err != nil || !reflect.DeepEqual(p.Rewrite, []int{2, 6, 7}) {
		t.Fatalf("plan %v %v", p, err)
	}
}

func TestRewindMarker(t *testing.T) {
	if m := RewindMarker(history.TaskScheduled); m != "Rewound: TaskScheduled" {
		t.Errorf("marker %q", m)
	}
	for reason, want := range map[string]bool{"Rewound: TaskFailed": true, "Rewound: GenericEvent": true,
		"Rewound: Nope": false, "card declined": false, "": false} {
		if _, ok := ParseRewindMarker(reason); ok != want {
			t.Errorf("ParseRewindMarker(%q) = %v", reason, ok)
		}
	}
}

func TestChildOf(t *testing.T) {
	child := &RewindHistory{InstanceID: "c", Rows: []RewindRow{{Event: &history.ExecutionStartedEvent{
		ParentInstance: &history.ParentInstance{OrchestrationInstance: history.OrchestrationInstance{InstanceID: "p", ExecutionID: "E1"}, TaskScheduleID: 3}}}}}
	if !ChildOf(child, "p", "e1", 3) {
		t.Error("the child of p/E1 task 3 is not recognised")
	}
	if ChildOf(child, "p", "E2", 3) || ChildOf(child, "q", "E1", 3) || ChildOf(child, "p", "E1", 4) {
		t.Error("a child of another parent execution or task is taken")
	}
}
