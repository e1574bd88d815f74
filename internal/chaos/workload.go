package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/azdurable/azdurable/durable"
)

// EnvExecLog names the file the workload's activities append one line to
// per execution: instance, execution, task id and activity name, tab
// separated. Each worker process of a run gets its own file, so that the
// driver can count executions per task across kills.
const EnvExecLog = "AZDURABLE_CHAOS_EXECLOG"

var execLog struct {
	once sync.Once
	mu   sync.Mutex
	f    *os.File
}

// record notes one execution of the running activity. A write to a file
// opened with O_APPEND reaches the kernel before the activity returns, so
// the line survives a SIGKILL of the process.
func record(ctx context.Context) {
	execLog.once.Do(func() {
		if p := os.Getenv(EnvExecLog); p != "" {
			execLog.f, _ = os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		}
	})
	info, ok := durable.ActivityInfoFrom(ctx)
	if execLog.f == nil || !ok {
		return
	}
	line := fmt.Sprintf("%s\t%s\t%d\t%s\n", info.InstanceID, info.ExecutionID, info.TaskID, info.Name)
	execLog.mu.Lock()
	_, _ = execLog.f.WriteString(line)
	execLog.mu.Unlock()
}

// Pair is the input of Add.
type Pair struct{ A, B int }

// Add returns A+B.
var Add = durable.NewActivity("ChaosAdd", func(ctx context.Context, p Pair) (int, error) {
	record(ctx)
	return p.A + p.B, nil
})

// Square returns n².
var Square = durable.NewActivity("ChaosSquare", func(ctx context.Context, n int) (int, error) {
	record(ctx)
	return n * n, nil
})

// Refuse always fails, with a reason that names its input.
var Refuse = durable.NewActivity("ChaosRefuse", func(ctx context.Context, s string) (string, error) {
	record(ctx)
	return "", errors.New("refused " + s)
})

// Chain adds 1..n one activity at a time, with a short durable timer in
// the middle, and returns n(n+1)/2.
var Chain = durable.NewOrchestration("ChaosChain", func(ctx durable.Context, n int) (int, error) {
	acc := 0
	for i := 1; i <= n; i++ {
		if i == n/2+1 {
			if err := durable.Sleep(ctx, 200*time.Millisecond); err != nil {
				return 0, err
			}
		}
		v, err := Add.Call(ctx, Pair{acc, i}).Await(ctx)
		if err != nil {
			return 0, err
		}
		acc = v
	}
	return acc, nil
})

// FanOut squares 0..n-1 in parallel and returns the sum.
var FanOut = durable.NewOrchestration("ChaosFanOut", func(ctx durable.Context, n int) (int, error) {
	fs := make([]durable.Future[int], n)
	for i := range fs {
		fs[i] = Square.Call(ctx, i)
	}
	res, err := durable.WhenAllOf(ctx, fs...)
	sum := 0
	for _, r := range res {
		sum += r
	}
	return sum, err
})

// Timer waits ms milliseconds on a durable timer, then returns ms+1 from an
// activity.
var Timer = durable.NewOrchestration("ChaosTimer", func(ctx durable.Context, ms int) (int, error) {
	if err := durable.Sleep(ctx, time.Duration(ms)*time.Millisecond); err != nil {
		return 0, err
	}
	return Add.Call(ctx, Pair{ms, 1}).Await(ctx)
})

// EventName is the external event Await waits for.
const EventName = "go"

// Await waits for the external event "go" (raised by the driver once the
// instance runs), racing a timer that never wins in a healthy run, and
// returns the event's value plus 1.
var Await = durable.NewOrchestration("ChaosAwait", func(ctx durable.Context, _ string) (int, error) {
	v, err := durable.WaitForEvent[int](ctx, EventName, durable.WithTimeout(time.Hour)).Await(ctx)
	if err != nil {
		return 0, err
	}
	return Add.Call(ctx, Pair{v, 1}).Await(ctx)
})

// Parent runs n Chain(3) sub-orchestrations with ids "<parent>-c<i>" in
// parallel and returns the sum of their outputs (6n).
var Parent = durable.NewOrchestration("ChaosParent", func(ctx durable.Context, n int) (int, error) {
	fs := make([]durable.Future[int], n)
	for i := range fs {
		fs[i] = Chain.CallSub(ctx, 3, durable.WithInstanceID(ChildID(ctx.InstanceID(), i)))
	}
	res, err := durable.WhenAllOf(ctx, fs...)
	sum := 0
	for _, r := range res {
		sum += r
	}
	return sum, err
})

// ChildID is the instance id of Parent's i-th child.
func ChildID(parent string, i int) string { return parent + "-c" + strconv.Itoa(i) }

// Round is the state Counter carries from one generation to the next.
type Round struct{ I, N, Acc int }

// Counter adds I to Acc in an activity and continues as new until I
// reaches N; it returns 0+1+…+(N-1).
var Counter = durable.NewOrchestration("ChaosCounter", func(ctx durable.Context, r Round) (int, error) {
	acc, err := Add.Call(ctx, Pair{r.Acc, r.I}).Await(ctx)
	if err != nil {
		return 0, err
	}
	if r.I+1 < r.N {
		return 0, durable.ContinueAsNew(ctx, Round{r.I + 1, r.N, acc})
	}
	return acc, nil
})

// Caught calls an activity that fails and returns the failure's reason:
// a failed activity is an ordinary result, not a failed instance.
var Caught = durable.NewOrchestration("ChaosCaught", func(ctx durable.Context, s string) (string, error) {
	_, err := Refuse.Call(ctx, s).Await(ctx)
	var tf *durable.TaskFailedError
	if !errors.As(err, &tf) {
		return "", fmt.Errorf("the activity did not fail as expected: %v", err)
	}
	v, err := Add.Call(ctx, Pair{len(s), 0}).Await(ctx)
	if err != nil {
		return "", err
	}
	return "caught " + strconv.Itoa(v), nil
})

// Registrations returns the workload's orchestrations, activities and
// entities, for the workers of a run:
// cli.Main(cli.WithRegistrations(chaos.Registrations()...)).
func Registrations() []durable.Registrable {
	return append([]durable.Registrable{Chain, FanOut, Timer, Await, Parent, Counter, Caught, Add, Square, Refuse},
		entityRegistrations()...)
}
