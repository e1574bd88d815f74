package queues

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"
)

const ms = time.Millisecond

func constRand(u float64) func() float64 { return func() float64 { return u } }

// TestBackoffSequence pins the C# sequence: 0, 50 ms, then 50 ms plus a
// doubling term scaled by r = 0.8 + 0.4·u, capped at the maximum.
func TestBackoffSequence(t *testing.T) {
	cases := []struct {
		name string
		u    float64
		max  time.Duration
		want []time.Duration
	}{
		{"r=1", 0.5, 30 * time.Second, []time.Duration{0, 50 * ms, 100 * ms, 150 * ms, 250 * ms, 450 * ms, 850 * ms,
			1650 * ms, 3250 * ms, 6450 * ms, 12850 * ms, 25650 * ms, 30 * time.Second, 30 * time.Second}},
		{"r=0.8", 0, 30 * time.Second, []time.Duration{0, 50 * ms, 90 * ms, 130 * ms, 210 * ms, 370 * ms, 690 * ms}},
		{"r=1.2", 1, 30 * time.Second, []time.Duration{0, 50 * ms, 110 * ms, 170 * ms, 290 * ms, 530 * ms}},
		// The C# capture with MaxQueuePollingInterval 1 s: ~50, 100, 165,
		// 265, 490 ms, then 1 s.
		{"max 1s", 0.5, time.Second, []time.Duration{0, 50 * ms, 100 * ms, 150 * ms, 250 * ms, 450 * ms, 850 * ms, time.Second, time.Second}},
		{"max below floor", 0.5, 10 * ms, []time.Duration{0, 50 * ms, 50 * ms, 50 * ms}},
		{"max 0 means 30s", 1, 0, []time.Duration{0, 50 * ms, 110 * ms}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := NewBackoff(c.max, constRand(c.u))
			var got []time.Duration
			for range c.want {
				got = append(got, b.Next())
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("waits\n got %v\nwant %v", got, c.want)
			}
		})
	}
}

// TestBackoffDrawsEachStep: every randomized wait uses a fresh draw, and the
// first two waits use none.
func TestBackoffDrawsEachStep(t *testing.T) {
	draws := []float64{0, 1, 0.5, 0.25}
	calls := 0
	b := NewBackoff(time.Hour, func() float64 { u := draws[calls%len(draws)]; calls++; return u })
	var got []time.Duration
	for range 6 {
		got = append(got, b.Next())
	}
	// 50 + r·50·2^(k-3) with r = 0.8, 1.2, 1.0, 0.9.
	want := []time.Duration{0, 50 * ms, 90 * ms, 170 * ms, 250 * ms, 410 * ms}
	if !slices.Equal(got, want) || calls != 4 {
		t.Fatalf("waits %v with %d draws, want %v with 4", got, calls, want)
	}
}

// TestBackoffReachesCap: at the 30 s default the cap is reached after 12
// or 13 empty polls whatever the draws, stays there, and Reset restarts
// the sequence. This is the "about 13 polls" of the idle-cost formula.
func TestBackoffReachesCap(t *testing.T) {
	for _, u := range []float64{0, 0.25, 0.5, 0.75, 0.9999} {
		b := NewBackoff(DefaultMaxPollInterval, constRand(u))
		first := 0
		for i := 1; i <= 200; i++ {
			d := b.Next()
			if d > DefaultMaxPollInterval {
				t.Fatalf("u=%v: wait %v above the cap", u, d)
			}
			if d == DefaultMaxPollInterval && first == 0 {
				first = i
			}
			if first != 0 && d != DefaultMaxPollInterval {
				t.Fatalf("u=%v: wait %d fell back to %v after reaching the cap", u, i, d)
			}
		}
		if first < 12 || first > 13 {
			t.Errorf("u=%v: cap reached at empty poll %d, want 12 or 13", u, first)
		}
		b.Reset()
		if d1, d2 := b.Next(), b.Next(); d1 != 0 || d2 != MinPollInterval {
			t.Errorf("after Reset: %v, %v; want 0, 50ms", d1, d2)
		}
	}
}

// fakeQueue scripts the answers of successive receives.
type fakeQueue struct {
	answers []func() ([]*Message, error)
	calls   int
}

func (f *fakeQueue) recv(ctx context.Context, n int, vis time.Duration) ([]*Message, error) {
	i := f.calls
	f.calls++
	if i < len(f.answers) {
		return f.answers[i]()
	}
	return nil, nil
}

func empty() ([]*Message, error) { return nil, nil }

func one(id string) func() ([]*Message, error) {
	return func() ([]*Message, error) { return []*Message{{ID: id}}, nil }
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestPollerBacksOffAndResets drives a Poller with a scripted queue and a
// wait function that records instead of sleeping: empty polls produce the
// back-off sequence, a message resets it, and failed receives count as
// empty polls.
func TestPollerBacksOffAndResets(t *testing.T) {
	fq := &fakeQueue{answers: []func() ([]*Message, error){
		empty, empty, empty, empty, empty, one("a"),
		empty, func() ([]*Message, error) { return nil, errors.New("503 server busy") }, empty, one("b"),
	}}
	p, err := newPoller("q", fq.recv, &PollerOptions{Rand: constRand(0.5), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	var waits []time.Duration
	p.wait = func(ctx context.Context, d time.Duration, wake <-chan struct{}) (bool, error) {
		waits = append(waits, d)
		return false, nil
	}
	for _, want := range []string{"a", "b"} {
		msgs, err := p.Next(t.Context())
		if err != nil || len(msgs) != 1 || msgs[0].ID != want {
			t.Fatalf("Next = %v, %v; want message %s", msgs, err, want)
		}
	}
	// "a" is a partial batch (1 of 32): it stands for the first empty
	// poll, so the second Next starts by waiting the second's 50 ms.
	want := []time.Duration{0, 50 * ms, 100 * ms, 150 * ms, 250 * ms, 50 * ms, 100 * ms, 150 * ms, 250 * ms}
	if !slices.Equal(waits, want) {
		t.Fatalf("waits\n got %v\nwant %v", waits, want)
	}
}

// TestPollerAfterPartialBatch: after a full batch the poller receives again
// at once; after a partial one it first waits 50 ms, which a send during
// that wait (even one made while the partial batch was being received) does
// not end: what is sent meanwhile comes with the next receive.
func TestPollerAfterPartialBatch(t *testing.T) {
	w := NewWakeups()
	two := func() ([]*Message, error) { return []*Message{{ID: "1"}, {ID: "2"}}, nil }
	fq := &fakeQueue{answers: []func() ([]*Message, error){
		two, one("partial"), one("after-wait"),
		func() ([]*Message, error) { w.Notify("q"); return []*Message{{ID: "notified"}}, nil }, one("woken"),
	}}
	p, err := newPoller("q", fq.recv, &PollerOptions{BatchSize: 2, Wakeups: w, Rand: constRand(0.5), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	var waits []time.Duration
	var woken []bool
	p.wait = func(ctx context.Context, d time.Duration, wake <-chan struct{}) (bool, error) {
		waits = append(waits, d)
		select {
		case <-wake:
			woken = append(woken, true)
			return true, nil
		default:
			woken = append(woken, false)
			return false, nil
		}
	}
	for _, want := range []string{"1", "partial", "after-wait", "notified", "woken"} {
		msgs, err := p.Next(t.Context())
		if err != nil || len(msgs) == 0 || msgs[0].ID != want {
			t.Fatalf("Next = %v, %v; want %s first", msgs, err, want)
		}
	}
	if want := []time.Duration{50 * ms, 50 * ms, 50 * ms}; !slices.Equal(waits, want) || !slices.Equal(woken, []bool{false, false, false}) {
		t.Fatalf("waits %v (woken %v); want %v, none ended by the send", waits, woken, want)
	}
}

// saturate advances a poller's back-off to its cap without waiting.
func saturate(p *Poller) {
	for range 64 {
		p.backoff.Next()
	}
}

// TestPollerWokenBySend: a poller sitting at a one-hour back-off returns
// the next message as soon as Notify is called, with the real wait.
func TestPollerWokenBySend(t *testing.T) {
	w := NewWakeups()
	polled := make(chan struct{}, 10)
	fq := &fakeQueue{answers: []func() ([]*Message, error){
		func() ([]*Message, error) { polled <- struct{}{}; return nil, nil },
		one("woken"),
	}}
	p, err := newPoller("q", fq.recv, &PollerOptions{MaxInterval: time.Hour, Wakeups: w, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	saturate(p)
	waiting := make(chan time.Duration, 1)
	p.wait = func(ctx context.Context, d time.Duration, wake <-chan struct{}) (bool, error) {
		waiting <- d
		return sleep(ctx, d, wake)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	done := make(chan []*Message, 1)
	go func() {
		msgs, _ := p.Next(ctx)
		done <- msgs
	}()
	<-polled
	if d := <-waiting; d != time.Hour {
		t.Fatalf("poller waits %v, want the one-hour cap", d)
	}
	w.Notify("other-queue") // must not wake it
	w.Notify("q")
	select {
	case msgs := <-done:
		if len(msgs) != 1 || msgs[0].ID != "woken" {
			t.Fatalf("Next = %v", msgs)
		}
	case <-ctx.Done():
		t.Fatal("Notify did not end the back-off")
	}
	// The wake reset the back-off, and the one message it brought was a
	// partial batch, which counts as the first empty poll: next is 50 ms.
	if d := p.backoff.Next(); d != MinPollInterval {
		t.Errorf("back-off after wake = %v, want a reset sequence (50ms after the partial batch)", d)
	}
}

// TestPollerNotifyDuringReceive: a message sent while a receive is in flight
// (too late for that receive) must still end the wait that follows it,
// because the poller takes its wake-up channel before receiving.
func TestPollerNotifyDuringReceive(t *testing.T) {
	w := NewWakeups()
	fq := &fakeQueue{answers: []func() ([]*Message, error){
		func() ([]*Message, error) { w.Notify("q"); return nil, nil },
		one("late"),
	}}
	p, err := newPoller("q", fq.recv, &PollerOptions{MaxInterval: time.Hour, Wakeups: w, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	saturate(p)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	msgs, err := p.Next(ctx)
	if err != nil || len(msgs) != 1 || msgs[0].ID != "late" {
		t.Fatalf("Next = %v, %v; the notification during the receive was lost", msgs, err)
	}
}

// TestPollerContext: Next returns ctx's error when ctx ends during a wait.
func TestPollerContext(t *testing.T) {
	p, err := newPoller("q", (&fakeQueue{}).recv, &PollerOptions{MaxInterval: time.Hour, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	saturate(p)
	ctx, cancel := context.WithCancel(t.Context())
	p.wait = func(c context.Context, d time.Duration, wake <-chan struct{}) (bool, error) {
		cancel()
		return sleep(c, d, wake)
	}
	if _, err := p.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// TestPollerOptions refuses options the service would refuse on every poll.
func TestPollerOptions(t *testing.T) {
	for _, o := range []PollerOptions{{BatchSize: 33}, {BatchSize: -1}, {Visibility: 500 * ms}} {
		if _, err := newPoller("q", (&fakeQueue{}).recv, &o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
	p, err := newPoller("q", (&fakeQueue{}).recv, nil)
	if err != nil || p.batch != MaxBatch || p.visibility != DefaultVisibility || p.backoff.Max() != DefaultMaxPollInterval {
		t.Fatalf("defaults: %+v, %v", p, err)
	}
}

// TestWakeupsDelayed: Send's hook wakes at once for a visible message and
// when a delayed one becomes visible; a nil registry is inert.
func TestWakeupsDelayed(t *testing.T) {
	w := NewWakeups()
	ch := w.C("q")
	w.sent("q", 20*ms)
	select {
	case <-ch:
	case <-time.After(2 * time.Minute):
		t.Fatal("delayed wake-up never came")
	}
	ch = w.C("q")
	w.sent("q", 0)
	select {
	case <-ch:
	default:
		t.Fatal("an undelayed send did not wake at once")
	}
	ch = w.C("q")
	w.sent("q", time.Hour) // beyond the horizon: no timer
	select {
	case <-ch:
		t.Fatal("woken for a message an hour away")
	default:
	}
	var none *Wakeups
	none.Notify("q")
	none.sent("q", 0)
	if none.C("q") != nil {
		t.Fatal("nil Wakeups returned a channel")
	}
}
