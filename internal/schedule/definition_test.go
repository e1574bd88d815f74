package schedule

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/provider"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func mustNew(t *testing.T, o Options) *Definition {
	t.Helper()
	if o.Orchestration == "" {
		o.Orchestration = "Report"
	}
	d, err := New("nightly", o, t0, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestValidation(t *testing.T) {
	ok := Options{Cron: "0 2 * * *", Orchestration: "Report"}
	for _, tc := range []struct {
		name string
		o    func(*Options)
		want string
	}{
		{"", nil, "the name is empty"},
		{"-x", nil, "must start with a letter or digit"},
		{"a b", nil, "may hold only"},
		{"a@b", nil, "may hold only"},
		{"a/b", nil, "may hold only"},
		{strings.Repeat("a", MaxNameLength+1), nil, "longer than"},
		{"n", func(o *Options) { o.Cron = "" }, "CRON expression is empty"},
		{"n", func(o *Options) { o.Cron = "CRON_TZ=Europe/Berlin 0 2 * * *" }, "time zone apart"},
		{"n", func(o *Options) { o.Cron = "TZ= * * * * *" }, "time zone apart"},
		{"n", func(o *Options) { o.Cron = "0 2 * *" }, "CRON expression"},
		{"n", func(o *Options) { o.Cron = "61 * * * *" }, "CRON expression"},
		{"n", func(o *Options) { o.Cron = "@fortnightly" }, "CRON expression"},
		{"n", func(o *Options) { o.Cron = "0 0 30 2 *" }, "no tick in the next five years"},
		{"n", func(o *Options) { o.TimeZone = "Local" }, "not Local"},
		{"n", func(o *Options) { o.TimeZone = "Mars/Olympus" }, "unknown time zone"},
		{"n", func(o *Options) { o.TimeZone = "../../etc/passwd" }, "unknown time zone"},
		{"n", func(o *Options) { o.Orchestration = " " }, "orchestration name is empty"},
		{"n", func(o *Options) { o.Orchestration = "a\nb" }, "control character"},
		{"n", func(o *Options) { o.Version = strings.Repeat("v", 300) }, "version is longer"},
		{"n", func(o *Options) { o.CatchUp = "sometimes" }, "catch-up policy"},
		{"n", func(o *Options) { o.Grace = -time.Second }, "negative"},
		{"n", func(o *Options) { o.Input = strings.Repeat("x", MaxInputSize) }, "at most"},
		{"n", func(o *Options) { o.Input = func() {} }, "encoding the input"},
		{"n", func(o *Options) { o.End = t0.Add(time.Hour) }, "no tick between now and the end"},
	} {
		o := ok
		if tc.o != nil {
			tc.o(&o)
		}
		_, err := New(tc.name, o, t0, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, provider.ErrInvalid) {
			t.Errorf("%q %+v: got %v, want an ErrInvalid with %q", tc.name, o, err, tc.want)
		}
	}
	d, err := New("Nightly.report_2-b", ok, t0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.TimeZone != "UTC" || d.CatchUp != CatchUpLatest || d.Grace != DefaultGrace || d.Input != nil {
		t.Errorf("defaults: %+v", d)
	}
}

// Five fields or six (seconds first), descriptors, and the time zone
// applied to each, daylight saving time included.
func TestNextTicks(t *testing.T) {
	ticks := func(d *Definition, from time.Time, n int) []string {
		var out []string
		for t := d.Next(from); !t.IsZero() && len(out) < n; t = d.Next(t) {
			out = append(out, t.Format(time.RFC3339))
		}
		return out
	}
	for _, tc := range []struct {
		cron, zone string
		from       time.Time
		want       []string
	}{
		{"*/20 * * * * *", "", t0, []string{"2026-01-01T00:00:20Z", "2026-01-01T00:00:40Z", "2026-01-01T00:01:00Z"}},
		{"0 2 * * *", "Europe/Berlin", t0, []string{"2026-01-01T01:00:00Z", "2026-01-02T01:00:00Z"}},
		// Summer time in Berlin: 02:00 local is 00:00 UTC.
		{"0 2 * * *", "Europe/Berlin", time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC), []string{"2026-07-02T00:00:00Z"}},
		{"@hourly", "", t0, []string{"2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z"}},
		{"@daily", "America/New_York", t0, []string{"2026-01-01T05:00:00Z"}},
		{"@every 90s", "", t0.Add(500 * time.Millisecond), []string{"2026-01-01T00:01:30Z", "2026-01-01T00:03:00Z"}},
		// The local hour that the spring change skips has no 02:30.
		{"30 2 * * *", "Europe/Berlin", time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC), []string{"2026-03-30T00:30:00Z"}},
		// The local hour that the autumn change repeats fires in both offsets.
		{"30 1 * * *", "America/New_York", time.Date(2026, 10, 31, 12, 0, 0, 0, time.UTC),
			[]string{"2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z", "2026-11-02T06:30:00Z"}},
	} {
		d := mustNew(t, Options{Cron: tc.cron, TimeZone: tc.zone})
		if got := ticks(d, tc.from, len(tc.want)); strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%s in %q from %s: %v, want %v", tc.cron, tc.zone, tc.from.Format(time.RFC3339), got, tc.want)
		}
	}
	// The end is inclusive, and Next is strictly after its argument.
	d := mustNew(t, Options{Cron: "0 * * * *", End: t0.Add(2 * time.Hour)})
	if got := ticks(d, t0, 5); strings.Join(got, " ") != "2026-01-01T01:00:00Z 2026-01-01T02:00:00Z" {
		t.Errorf("ticks until the end: %v", got)
	}
	if got := d.Next(t0.Add(time.Hour)); !got.Equal(t0.Add(2 * time.Hour)) {
		t.Errorf("Next(01:00) = %v", got)
	}
}

func TestTickInstanceIDs(t *testing.T) {
	tick := time.Date(2026, 12, 3, 1, 0, 5, 0, time.FixedZone("x", 3600))
	id := TickInstanceID("nightly-report", tick)
	if id != "nightly-report@20261203T000005Z" {
		t.Fatalf("id %q", id)
	}
	name, got, ok := ParseTickInstanceID(id)
	if !ok || name != "nightly-report" || !got.Equal(tick) {
		t.Fatalf("parsed %q %v %v", name, got, ok)
	}
	for _, bad := range []string{"", "x", "@20261203T000005Z", "a@2026", "a b@20261203T000005Z", "a@20261203T000005"} {
		if _, _, ok := ParseTickInstanceID(bad); ok {
			t.Errorf("%q parsed as a tick id", bad)
		}
	}
	if InstanceID("nightly") != "schedule:nightly" {
		t.Error(InstanceID("nightly"))
	}
	if n, ok := NameOf("schedule:nightly"); !ok || n != "nightly" {
		t.Error(n, ok)
	}
	if _, ok := NameOf("nightly"); ok {
		t.Error("an id without the prefix is a schedule")
	}
}

// The catch-up policies, decided from the schedule's clock alone.
func TestPlan(t *testing.T) {
	at := func(h, m int) time.Time { return t0.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	hhmm := func(ts []time.Time) string {
		var out []string
		for _, t := range ts {
			out = append(out, t.Format("15:04"))
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		policy  CatchUp
		now     time.Time
		start   string
		after   string
		skipped int64
	}{
		// On time (within the grace of a minute): started whatever the policy.
		{CatchUpNone, at(1, 0), "01:00", "01:00", 0},
		{CatchUpLatest, at(1, 0), "01:00", "01:00", 0},
		// 01:00 to 04:00 missed, nothing due on time.
		{CatchUpAll, at(4, 30), "01:00 02:00 03:00 04:00", "04:00", 0},
		{CatchUpLatest, at(4, 30), "04:00", "04:00", 3},
		{CatchUpNone, at(4, 30), "", "04:00", 4},
		// 01:00 to 03:00 missed and 04:00 due on time (30 s ago).
		{CatchUpAll, at(4, 0).Add(30 * time.Second), "01:00 02:00 03:00 04:00", "04:00", 0},
		{CatchUpLatest, at(4, 0).Add(30 * time.Second), "", "03:00", 3},
		{CatchUpNone, at(4, 0).Add(30 * time.Second), "", "03:00", 3},
	} {
		d := mustNew(t, Options{Cron: "0 * * * *", CatchUp: tc.policy})
		r := &runner{d: d}
		start, after, skipped := r.plan(at(1, 0), tc.now)
		if hhmm(start) != tc.start || after.Format("15:04") != tc.after || skipped != tc.skipped {
			t.Errorf("%s at %s: start [%s] after %s skipped %d; want [%s] %s %d", tc.policy, tc.now.Format("15:04:05"),
				hhmm(start), after.Format("15:04"), skipped, tc.start, tc.after, tc.skipped)
		}
	}
	// A long outage of a per-second schedule is handled in bounded passes.
	d := mustNew(t, Options{Cron: "* * * * * *", CatchUp: CatchUpLatest})
	r := &runner{d: d}
	start, after, skipped := r.plan(t0.Add(time.Second), t0.Add(24*time.Hour))
	if len(start) != 0 || skipped != maxScan+1 || !after.Equal(t0.Add((maxScan+1)*time.Second)) {
		t.Errorf("a long scan: %v %v %d", start, after, skipped)
	}
	d = mustNew(t, Options{Cron: "* * * * * *", CatchUp: CatchUpAll})
	r = &runner{d: d}
	if start, _, _ := r.plan(t0.Add(time.Second), t0.Add(24*time.Hour)); len(start) != maxBatch {
		t.Errorf("a batch of %d starts", len(start))
	}
}

// The stored form round-trips, and a definition that a newer worker wrote
// with an unknown zone fails to load instead of ticking in another zone.
func TestWireDefinition(t *testing.T) {
	d := mustNew(t, Options{Cron: "*/5 * * * * *", TimeZone: "Asia/Tokyo", Input: map[string]int{"n": 1},
		CatchUp: CatchUpAll, Grace: 1500 * time.Millisecond, End: t0.Add(48 * time.Hour), Version: "2"})
	raw, err := StartInput(d, t0, "rev", nil)
	if err != nil {
		t.Fatal(err)
	}
	var st state
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	back, err := st.Schedule.definition()
	if err != nil {
		t.Fatal(err)
	}
	if back.Name != d.Name || back.Cron != d.Cron || back.TimeZone != d.TimeZone || *back.Input != `{"n":1}` ||
		back.CatchUp != d.CatchUp || back.Grace != d.Grace || !back.End.Equal(d.End) || back.Version != "2" ||
		st.Revision != "rev" || !st.After.Equal(t0) || st.Progress.Status != Pending {
		t.Errorf("round trip: %+v from %s", back, raw)
	}
	st.Schedule.TimeZone = "Mars/Olympus"
	if _, err := st.Schedule.definition(); err == nil {
		t.Error("an unknown zone loaded")
	}
}

// Whatever the expression, validation answers with an error, never a
// panic of the parser.
func FuzzNew(f *testing.F) {
	for _, s := range []string{"* * * * *", "TZ=", "CRON_TZ=", "@every", "@every -1s", "0 0 30 2 *", "*/0 * * * *",
		"1-0 * * * *", "? ? ? ? ?", "@every 1ns", "0 0 0 0 0 0 0"} {
		f.Add(s, "UTC")
	}
	f.Fuzz(func(t *testing.T, expr, zone string) {
		d, err := New("n", Options{Cron: expr, TimeZone: zone, Orchestration: "o"}, t0, nil)
		if err == nil {
			if next := d.Next(t0); !next.After(t0) {
				t.Fatalf("%q: next %v", expr, next)
			}
		}
	})
}
