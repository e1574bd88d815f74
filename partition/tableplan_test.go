package partition

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

const testLease = 30 * time.Second

func in(me string, now time.Time, local map[string]phase) tableInput {
	return tableInput{Me: me, Now: now, Lease: testLease, RenewAfter: 5 * time.Second, Local: local}
}

func owned(p, owner string, renewed time.Time) Row {
	return Row{Partition: p, CurrentOwner: owner, OwnedSince: t0, LastRenewal: renewed, ExpiresAt: renewed.Add(testLease), ETag: azcore.ETag("e-" + p)}
}

// summary renders a plan compactly for table-driven comparisons.
func summary(p tablePlan) string {
	var s []string
	for _, d := range p.Drop {
		s = append(s, "drop:"+d)
	}
	for _, d := range p.Drain {
		s = append(s, "drain:"+d)
	}
	for _, w := range p.Writes {
		s = append(s, w.Kind.String()+":"+w.Row.Partition)
	}
	s = append(s, fmt.Sprintf("owned=%d busy=%v", p.Owned, p.Busy))
	return strings.Join(s, " ")
}

func TestPlanTableRules(t *testing.T) {
	now := t0.Add(time.Minute)
	fresh := now.Add(-time.Second)     // renewed 1 s ago
	stale := now.Add(-6 * time.Second) // renewed 6 s ago: due (RenewAfter 5 s)
	L := map[string]phase{"q0": phaseListening, "q1": phaseListening}
	for _, tc := range []struct {
		name     string
		rows     []Row
		in       tableInput
		want     string
		stopping bool
	}{
		{"free rows are claimed", []Row{{Partition: "q0"}, {Partition: "q1"}}, in("B", now, nil),
			"claim:q0 claim:q1 owned=2 busy=false", false},
		{"expired row of another worker is claimed", []Row{owned("q0", "A", now.Add(-testLease))}, in("B", now, nil),
			"claim:q0 owned=1 busy=false", false},
		{"row without ExpiresAt but with an owner counts as expired", []Row{{Partition: "q0", CurrentOwner: "A"}}, in("B", now, nil),
			"claim:q0 owned=1 busy=false", false},
		{"row released to me is claimed", []Row{{Partition: "q0", NextOwner: "B", ExpiresAt: now.Add(time.Second)}}, in("B", now, nil),
			"claim:q0 owned=1 busy=false", false},
		{"row released to another is left for it", []Row{{Partition: "q0", NextOwner: "C", ExpiresAt: now.Add(time.Second)}}, in("B", now, nil),
			"owned=0 busy=false", false},
		{"fresh own row is not rewritten", []Row{owned("q0", "B", fresh)}, in("B", now, L),
			"owned=1 busy=false", false},
		{"own row is renewed when due", []Row{owned("q0", "B", stale)}, in("B", now, L),
			"renew:q0 owned=1 busy=false", false},
		{"own row not listened to is renewed at once (restart)", []Row{owned("q0", "B", fresh)}, in("B", now, nil),
			"renew:q0 owned=1 busy=false", false},
		{"row naming another owner is dropped", []Row{owned("q0", "A", fresh)}, in("B", now, L),
			"drop:q0 owned=0 busy=false", false},
		{"steal request: drain starts and the row is marked", []Row{withNext(owned("q0", "B", fresh), "C")}, in("B", now, L),
			"drain:q0 drainMark:q0 owned=1 busy=true", false},
		{"draining row already marked and fresh is left", []Row{draining(withNext(owned("q0", "B", fresh), "C"))}, in("B", now, map[string]phase{"q0": phaseDraining}),
			"owned=1 busy=true", false},
		{"draining row is renewed when due", []Row{draining(withNext(owned("q0", "B", stale), "C"))}, in("B", now, map[string]phase{"q0": phaseDraining}),
			"drainMark:q0 owned=1 busy=true", false},
		{"drained row is released", []Row{draining(withNext(owned("q0", "B", fresh), "C"))}, in("B", now, map[string]phase{"q0": phaseDrained}),
			"release:q0 owned=0 busy=true", false},
		{"drained row not yet marked is marked first", []Row{withNext(owned("q0", "B", fresh), "C")}, in("B", now, map[string]phase{"q0": phaseDrained}),
			"drainMark:q0 owned=1 busy=true", false},
		{"requested row not listened to is released at once", []Row{withNext(owned("q0", "B", fresh), "C")}, in("B", now, nil),
			"release:q0 owned=0 busy=true", false},
		{"draining owner without successor is asked", []Row{draining(owned("q0", "A", fresh))}, in("B", now, nil),
			"steal:q0 owned=0 busy=true", false},
		{"waiting for a release keeps the loop fast", []Row{withNext(owned("q0", "A", fresh), "B")}, in("B", now, nil),
			"owned=0 busy=true", false},
		{"balance: take half from a single owner", rowsOf("A", 4, fresh), in("B", now, nil),
			"steal:q0 steal:q1 owned=0 busy=true", false},
		{"balance: 4/2/2 takes one more", append(append(rowsOf("A", 4, fresh), ownedRows("B", fresh, "q4", "q5")...), ownedRows("C", fresh, "q6", "q7")...),
			in("C", now, map[string]phase{"q6": phaseListening, "q7": phaseListening}), "steal:q0 owned=2 busy=true", false},
		{"balance: 3/3/2 is stable", append(append(rowsOf("A", 3, fresh), ownedRows("B", fresh, "q3", "q4", "q5")...), ownedRows("C", fresh, "q6", "q7")...),
			in("C", now, map[string]phase{"q6": phaseListening, "q7": phaseListening}), "owned=2 busy=false", false},
		{"balance: above the average takes nothing", append(rowsOf("A", 2, fresh), ownedRows("B", fresh, "q2", "q3", "q4")...),
			in("B", now, map[string]phase{"q2": phaseListening, "q3": phaseListening, "q4": phaseListening}), "owned=3 busy=false", false},
		{"balance: pending requests count for the requester", []Row{withNext(owned("q0", "A", fresh), "C"), withNext(owned("q1", "A", fresh), "C"), owned("q2", "A", fresh), owned("q3", "A", fresh)},
			in("B", now, nil), "steal:q2 owned=0 busy=true", false},
		{"stopping: listening rows drain and are marked, free rows are not claimed", []Row{owned("q0", "B", fresh), {Partition: "q1"}},
			in("B", now, map[string]phase{"q0": phaseListening}), "drain:q0 drainMark:q0 owned=1 busy=true", true},
		{"stopping: drained rows are released", []Row{draining(owned("q0", "B", fresh)), draining(owned("q1", "B", fresh))},
			in("B", now, map[string]phase{"q0": phaseDrained, "q1": phaseDraining}), "release:q0 owned=1 busy=true", true},
		{"stopping: nothing owned", []Row{owned("q0", "A", fresh), draining(owned("q1", "A", fresh))}, in("B", now, nil),
			"owned=0 busy=false", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Stopping = tc.stopping
			if got := summary(planTable(tc.rows, tc.in)); got != tc.want {
				t.Errorf("plan:\n got  %s\n want %s", got, tc.want)
			}
		})
	}
}

func azETag(s string) azcore.ETag { return azcore.ETag(s) }

func withNext(r Row, next string) Row { r.NextOwner = next; return r }
func draining(r Row) Row              { r.IsDraining = true; return r }

func rowsOf(owner string, n int, renewed time.Time) []Row {
	var rows []Row
	for i := range n {
		rows = append(rows, owned(fmt.Sprintf("q%d", i), owner, renewed))
	}
	return rows
}

func ownedRows(owner string, renewed time.Time, parts ...string) []Row {
	var rows []Row
	for _, p := range parts {
		rows = append(rows, owned(p, owner, renewed))
	}
	return rows
}

// Every write keeps the other columns and the ETag of the read.
func TestPlanTableWritesFullRows(t *testing.T) {
	now := t0.Add(time.Minute)
	r := draining(withNext(owned("q0", "B", now.Add(-time.Second)), "C"))
	p := planTable([]Row{r}, in("B", now, map[string]phase{"q0": phaseDrained}))
	if len(p.Writes) != 1 {
		t.Fatalf("plan %s", summary(p))
	}
	w := p.Writes[0].Row
	want := r
	want.CurrentOwner, want.IsDraining = "", false
	if w != want {
		t.Errorf("release row\n got  %+v\n want %+v", w, want)
	}
}

// The vector walk-through of azstorage-leases-and-metadata.json: B asks for
// A's partition, A drains (renewing), releases it to B, and B claims it.
// Each planned row is byte for byte the vector row.
func TestPlanTableFollowsVectorHandOver(t *testing.T) {
	v := leaseVectors(t)
	row := func(name string) Row {
		var r Row
		if err := json.Unmarshal(v["v3."+name], &r); err != nil {
			t.Fatal(err)
		}
		r.ETag = "etag"
		return r
	}
	expect := func(p tablePlan, part, vector string) Row {
		t.Helper()
		for _, w := range p.Writes {
			if w.Row.Partition == part {
				if got, want := w.Row.encode(""), compact(t, v["v3."+vector]); string(got) != string(want) {
					t.Errorf("%s:\n got  %s\n want %s", vector, got, want)
				}
				return w.Row
			}
		}
		t.Fatalf("no write of %s in %s, want %s", part, summary(p), vector)
		return Row{}
	}
	at := func(hms string) time.Time {
		ts, err := time.Parse(time.RFC3339, "2024-05-01T"+hms+"Z")
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	owned := row("rowOwned")
	other := owned
	other.Partition = "myhub-control-01"

	p := planTable([]Row{owned, other}, in("WORKER-B", at("12:10:10"), nil))
	steal := expect(p, "myhub-control-00", "rowStealRequested")

	steal.ETag = "etag"
	p = planTable([]Row{steal, other}, in("WORKER-A", at("12:10:19"), map[string]phase{"myhub-control-00": phaseListening, "myhub-control-01": phaseListening}))
	if !slices.Equal(p.Drain, []string{"myhub-control-00"}) {
		t.Errorf("drain %v", p.Drain)
	}
	drain := expect(p, "myhub-control-00", "rowDraining")

	drain.ETag = "etag"
	p = planTable([]Row{drain, other}, in("WORKER-A", at("12:10:20"), map[string]phase{"myhub-control-00": phaseDrained, "myhub-control-01": phaseListening}))
	released := expect(p, "myhub-control-00", "rowReleasedToThief")

	released.ETag = "etag"
	p = planTable([]Row{released, other}, in("WORKER-B", at("12:10:21"), nil))
	expect(p, "myhub-control-00", "rowClaimedByThief")
}

// Replaying the C# capture: for every recorded Partitions write, the
// planner, given the row before it and the same clock, plans one write of
// the same kind whose body has the same columns, order, formats and values
// (times within 1 ms: C# reads its clock once per column).
func TestPlanTableReproducesCSharpWrites(t *testing.T) {
	const me = "cscapture-worker"
	checked := 0
	for hub, writes := range csPartitionWrites(t) {
		prev := map[string]Row{}
		for _, w := range writes {
			var cs Row
			if err := json.Unmarshal([]byte(w.BodyRaw), &cs); err != nil {
				t.Fatal(err)
			}
			cs.ETag = azETag(w.IfMatch)
			before, ok := prev[cs.Partition]
			prev[cs.Partition] = cs
			if w.Method == "POST" {
				created := Row{Partition: cs.Partition}
				if got := created.encode(""); string(got) != string(cs.encode("")) {
					t.Errorf("%s #%d insert body %s", hub, w.WireIndex, got)
				}
				continue
			}
			if !ok {
				t.Fatalf("%s #%d: replace before insert", hub, w.WireIndex)
			}
			before.ETag = cs.ETag
			input := in(me, cs.LastRenewal, map[string]phase{cs.Partition: phaseListening})
			wantKind := writeRenew
			switch {
			case strings.HasSuffix(w.Phase, ":stop") && cs.CurrentOwner == "":
				wantKind, input.Stopping = writeRelease, true
				input.Now = cs.LastRenewal.Add(time.Second)
				input.Local[cs.Partition] = phaseDrained
			case strings.HasSuffix(w.Phase, ":stop"):
				wantKind, input.Stopping = writeDrainMark, true
				input.Local[cs.Partition] = phaseDraining
			case before.CurrentOwner == "":
				wantKind = writeClaim
				input.Local = nil
			}
			p := planTable([]Row{before}, input)
			if len(p.Writes) != 1 || p.Writes[0].Kind != wantKind {
				t.Errorf("%s #%d (%s): planned %s, want one %s", hub, w.WireIndex, w.Phase, summary(p), wantKind)
				continue
			}
			got := members(t, p.Writes[0].Row.encode(""))
			if err := sameShape(got, withoutNulls(members(t, []byte(w.BodyRaw))), norm{Tol: time.Millisecond}); err != nil {
				t.Errorf("%s #%d (%s, %s): %v", hub, w.WireIndex, w.Phase, wantKind, err)
			}
			if p.Writes[0].Row.ETag != before.ETag {
				t.Errorf("%s #%d: write does not carry the read's ETag", hub, w.WireIndex)
			}
			checked++
		}
	}
	if checked < 30 {
		t.Fatalf("only %d replaces checked", checked)
	}
}
