// Package conformance holds Go versions of the reference orchestrations and
// activities that the C# interop program (dtfx-ref) registers, and of the
// entity Counter and orchestration Counting that the Durable Functions
// reference app (dfx-ref) hosts: the same names, the same durable actions in
// the same order (so the same task ids), the same JSON inputs and outputs,
// the same generated sub-orchestration ids and the same failure reasons. With them a Go worker can finish instances a
// C# worker started, and a C# worker can finish instances a Go worker
// started, on one task hub.
//
// The contract is the reference program's README ("How C# numbers and runs
// the actions"). Each orchestration's comment lists its actions with their
// task ids as #n; waiting for an event and setting custom status take none.
package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/samples/counter"
	"github.com/azdurable/azdurable/samples/hellocities"
)

// Registrations returns every conformance orchestration and activity.
func Registrations() []durable.Registrable {
	return []durable.Registrable{
		hellocities.SayHello, Fail, Big, Slow,
		hellocities.HelloCities, Chain5, Chain, FanOut, Caught, Uncaught, Retried, Child, Parent,
		Waiter, Counter, BigPayload, InteropFlow, Sleeper, Stuck, SlowFan, ParentOfWaiter, Ticker,
		CounterEntity, Counting,
	}
}

// CounterEntity is the Durable Functions reference app's (dfx-ref's) entity
// Counter, the sample's: its state is an int; "add" (an int) adds, "reset"
// sets 0, "get" returns the state (and, as the C# GetState does, creates the
// entity with 0 when it has none), "delete" deletes it. "add" and "reset"
// answer null. Entity names live apart from orchestration names, so it sits
// beside the orchestration Counter.
var CounterEntity = counter.Counter

// Counting is dfx-ref's orchestration Counting, the sample's: it signals
// Counter@k1 "add" 5, calls "add" 2, locks Counter@k1 and calls "add" 1
// inside the critical section, then returns "get" (8 from a fresh k1). Its
// input is ignored. It sends the same requests, with the same request ids, in
// the same order as the C# one, so either side replays the other's history.
var Counting = counter.Counting

// SayHello greets: "Hello {name}!" (the sample's activity).
var SayHello = hellocities.SayHello

// HelloCities greets Tokyo, Seattle and London in turn (the sample's
// orchestration).
var HelloCities = hellocities.HelloCities

// Fail always fails with the reason "card declined: {s}", which is what the
// C# activity's exception message, and so its TaskFailed Reason, is.
var Fail = durable.NewActivity("Fail", func(_ context.Context, s string) (string, error) {
	return "", errors.New(FailReason(s))
})

// FailReason is the failure reason Fail reports for s.
func FailReason(s string) string { return "card declined: " + s }

// Big returns a string of n "x".
var Big = durable.NewActivity("Big", func(_ context.Context, n int) (string, error) {
	if n < 0 {
		return "", durable.NonRetryable(fmt.Errorf("Big: negative length %d", n))
	}
	return strings.Repeat("x", n), nil
})

// Slow returns "slow {s}". (C# held it while its snapshots were made; here
// it answers at once, as the C# reference does now.)
var Slow = durable.NewActivity("Slow", func(_ context.Context, s string) (string, error) {
	return "slow " + s, nil
})

// Chain5: #0 SayHello("c0") … #4 SayHello("c4"), one after another; the
// output is the last result, "Hello c4!". The input is ignored.
var Chain5 = durable.NewOrchestration("Chain5", func(ctx durable.Context, _ string) (string, error) {
	return chain(ctx, 5)
})

// Chain: #i SayHello("c{i}") for i = 0 … n-1, one after another; the output
// is the last result ("" for n = 0).
var Chain = durable.NewOrchestration("Chain", func(ctx durable.Context, n int) (string, error) {
	return chain(ctx, n)
})

func chain(ctx durable.Context, n int) (string, error) {
	last := ""
	for i := 0; i < n; i++ {
		s, err := SayHello.Call(ctx, "c"+strconv.Itoa(i)).Await(ctx)
		if err != nil {
			return "", err
		}
		last = s
	}
	return last, nil
}

// FanOut: #i SayHello("n{i}") for i = 0 … n-1, all at once, then waits for
// all; the output is n.
var FanOut = durable.NewOrchestration("FanOut", func(ctx durable.Context, n int) (int, error) {
	fs := make([]durable.Future[string], n)
	for i := range fs {
		fs[i] = SayHello.Call(ctx, "n"+strconv.Itoa(i))
	}
	if _, err := durable.WhenAllOf(ctx, fs...); err != nil {
		return 0, err
	}
	return n, nil
})

// Caught: #0 Fail(s), whose failure it catches; the output is
// "caught: card declined: {s}".
var Caught = durable.NewOrchestration("Caught", func(ctx durable.Context, s string) (string, error) {
	_, err := Fail.Call(ctx, s).Await(ctx)
	reason, ferr := failureReason(err)
	if ferr != nil {
		return "", ferr
	}
	return "caught: " + reason, nil
})

// Uncaught: #0 Fail(s), uncaught: the instance fails and its output is the
// bare reason "card declined: {s}".
var Uncaught = durable.NewOrchestration("Uncaught", func(ctx durable.Context, s string) (string, error) {
	return Fail.Call(ctx, s).Await(ctx)
})

// Retried is C#'s RetryOptions(1 s, 2 attempts) written out, because C#
// waits once more after its last attempt and durable.RetryPolicy does not:
// #0 Fail(s); #1 timer 1 s; #2 Fail(s); #3 timer; then it catches the
// failure. The output is "retried: card declined: {s}".
//
// The last timer fires at the current orchestration time: C#'s retry loop
// computes no further delay after the last attempt and still creates its
// timer (a C# history shows that TimerCreated's FireAt equal to the episode's
// OrchestratorStarted time). Replay compares only the kind of a timer, so a
// history with either FireAt replays.
var Retried = durable.NewOrchestration("Retried", func(ctx durable.Context, s string) (string, error) {
	var last error
	for attempt, wait := range []time.Duration{time.Second, 0} {
		_, err := Fail.Call(ctx, s).Await(ctx)
		if err == nil {
			return "", fmt.Errorf("Retried: attempt %d of Fail unexpectedly succeeded", attempt+1)
		}
		last = err
		if err := durable.Sleep(ctx, wait); err != nil {
			return "", err
		}
	}
	reason, err := failureReason(last)
	if err != nil {
		return "", err
	}
	return "retried: " + reason, nil
})

// failureReason returns the Reason of an activity failure (what C#'s
// TaskFailedException message is); any other error, or none, is returned as
// an error.
func failureReason(err error) (string, error) {
	var tf *durable.TaskFailedError
	if !errors.As(err, &tf) {
		if err == nil {
			return "", errors.New("the activity was expected to fail but succeeded")
		}
		return "", err
	}
	if tf.Reason != "" {
		return tf.Reason, nil
	}
	return tf.Error(), nil
}

// Child: #0 SayHello(s); the output is "Hello {s}!".
var Child = durable.NewOrchestration("Child", func(ctx durable.Context, s string) (string, error) {
	return SayHello.Call(ctx, s).Await(ctx)
})

// PingTarget is the instance Parent sends its "Ping" event to.
const PingTarget = "capture-target"

// Parent: custom status "starting"; #0 sub-orchestration Child(s+"-child")
// with the generated id ({execution id}:0); custom status "waiting"; #1
// timer 2 s; waits for "Approval" (string a); #2 sends "Ping" with a to
// PingTarget; custom status "done". The output is the child's output + "|"
// + a.
var Parent = durable.NewOrchestration("Parent", func(ctx durable.Context, s string) (string, error) {
	if err := ctx.SetCustomStatus("starting"); err != nil {
		return "", err
	}
	child, err := Child.CallSub(ctx, s+"-child").Await(ctx)
	if err != nil {
		return "", err
	}
	if err := ctx.SetCustomStatus("waiting"); err != nil {
		return "", err
	}
	if err := durable.Sleep(ctx, 2*time.Second); err != nil {
		return "", err
	}
	a, err := awaitText(ctx, waitText(ctx, "Approval"))
	if err != nil {
		return "", err
	}
	if err := durable.SendEvent(ctx, PingTarget, "Ping", a); err != nil {
		return "", err
	}
	if err := ctx.SetCustomStatus("done"); err != nil {
		return "", err
	}
	return child + "|" + deref(a), nil
})

// Waiter waits for "Go" or "Ping", whichever comes first, and returns its
// data read as a string. It takes no task id.
var Waiter = durable.NewOrchestration("Waiter", func(ctx durable.Context, _ string) (*string, error) {
	fs := []durable.Future[json.RawMessage]{waitText(ctx, "Go"), waitText(ctx, "Ping")}
	i, err := durable.WhenAny(ctx, fs[0], fs[1])
	if err != nil {
		return nil, err
	}
	return awaitText(ctx, fs[i])
})

// Counter continues as new with n+1 while n < 2; the output is max(n, 2).
var Counter = durable.NewOrchestration("Counter", func(ctx durable.Context, n int) (int, error) {
	if n < 2 {
		return 0, durable.ContinueAsNew(ctx, n+1)
	}
	return n, nil
})

// BigPayload: #0 Big(n); the output is the result's length (a number).
var BigPayload = durable.NewOrchestration("BigPayload", func(ctx durable.Context, n int) (int, error) {
	s, err := Big.Call(ctx, n).Await(ctx)
	if err != nil {
		return 0, err
	}
	return dotnetLen(s), nil
})

// InteropFlow: #0 SayHello("Tokyo"); waits for "Continue" (string e); #1
// SayHello("Seattle"); #2 timer 1 s; #3 sub-orchestration Child("London")
// with the generated id ({execution id}:3). The output is [#0, e, #1, #3,
// the input's length as a decimal string].
var InteropFlow = durable.NewOrchestration("InteropFlow", func(ctx durable.Context, s string) ([]*string, error) {
	tokyo, err := SayHello.Call(ctx, "Tokyo").Await(ctx)
	if err != nil {
		return nil, err
	}
	e, err := awaitText(ctx, waitText(ctx, "Continue"))
	if err != nil {
		return nil, err
	}
	seattle, err := SayHello.Call(ctx, "Seattle").Await(ctx)
	if err != nil {
		return nil, err
	}
	if err := durable.Sleep(ctx, time.Second); err != nil {
		return nil, err
	}
	london, err := Child.CallSub(ctx, "London").Await(ctx)
	if err != nil {
		return nil, err
	}
	n := strconv.Itoa(dotnetLen(s))
	return []*string{&tokyo, e, &seattle, &london, &n}, nil
})

// Sleeper: #0 timer of the input's seconds; #1 SayHello("Sleep"). The output
// is "Hello Sleep!".
var Sleeper = durable.NewOrchestration("Sleeper", func(ctx durable.Context, seconds int) (string, error) {
	if err := durable.Sleep(ctx, time.Duration(seconds)*time.Second); err != nil {
		return "", err
	}
	return SayHello.Call(ctx, "Sleep").Await(ctx)
})

// Stuck: #0 Slow(s); the output is "slow {s}".
var Stuck = durable.NewOrchestration("Stuck", func(ctx durable.Context, s string) (string, error) {
	return Slow.Call(ctx, s).Await(ctx)
})

// SlowFan: #i Slow("f{i}") for i = 0 … n-1, all at once, then waits for
// all; the output is n.
var SlowFan = durable.NewOrchestration("SlowFan", func(ctx durable.Context, n int) (int, error) {
	fs := make([]durable.Future[string], n)
	for i := range fs {
		fs[i] = Slow.Call(ctx, "f"+strconv.Itoa(i))
	}
	if _, err := durable.WhenAllOf(ctx, fs...); err != nil {
		return 0, err
	}
	return n, nil
})

// WaiterInput is the input ParentOfWaiter gives its Waiter.
const WaiterInput = "child-input"

// ParentOfWaiter: #0 sub-orchestration Waiter with instance id id and input
// WaiterInput; the output is "parent:" + the child's output.
var ParentOfWaiter = durable.NewOrchestration("ParentOfWaiter", func(ctx durable.Context, id string) (string, error) {
	out, err := Waiter.CallSub(ctx, WaiterInput, durable.WithInstanceID(id)).Await(ctx)
	if err != nil {
		return "", err
	}
	return "parent:" + deref(out), nil
})

// Ticker: #0 timer (20 s when n = 1, else 1 s) in every generation, then
// continues as new with n+1 while n < 3; the output is max(n, 3).
var Ticker = durable.NewOrchestration("Ticker", func(ctx durable.Context, n int) (int, error) {
	d := time.Second
	if n == 1 {
		d = 20 * time.Second
	}
	if err := durable.Sleep(ctx, d); err != nil {
		return 0, err
	}
	if n < 3 {
		return 0, durable.ContinueAsNew(ctx, n+1)
	}
	return n, nil
})

// waitText waits for an event as the C# reference orchestrations do: by
// its exact name (DurableTask.Core compares names ordinally, so "go" is not
// "Go").
func waitText(ctx durable.Context, name string) durable.Future[json.RawMessage] {
	return durable.WaitForEvent[json.RawMessage](ctx, name, durable.MatchCase())
}

// awaitText reads an event's data as a string, as Newtonsoft reads a JSON
// value into a .NET string: a JSON string is its text, null is null, and a
// number or a boolean is its literal ("5", "true"; a fraction as .NET
// prints the double, 1.50 as "1.5"). An object or an array is an error, as
// in C#.
func awaitText(ctx durable.Context, f durable.Future[json.RawMessage]) (*string, error) {
	raw, err := f.Await(ctx)
	if err != nil {
		return nil, err
	}
	return jsonText(raw)
}

func jsonText(raw json.RawMessage) (*string, error) {
	text := strings.TrimSpace(string(raw))
	switch {
	case text == "" || text == "null":
		return nil, nil
	case text == "true" || text == "false":
		return &text, nil
	case text[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return &s, nil
	case text[0] == '{' || text[0] == '[':
		return nil, fmt.Errorf("event data %.40s is not a string, a number or a boolean", text)
	}
	if !strings.ContainsAny(text, ".eE") {
		return &text, nil
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return nil, fmt.Errorf("event data %.40s: %w", text, err)
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if a := math.Abs(f); a != 0 && (a >= 1e15 || a < 1e-5) {
		s = strconv.FormatFloat(f, 'E', -1, 64)
	}
	return &s, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// dotnetLen is a string's .NET length: its UTF-16 code units.
func dotnetLen(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}
