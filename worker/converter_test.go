package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/durabletest"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/worker"
)

// envelope is a DataConverter that stores every value as {"v": <JSON>}
// and refuses text without the envelope.
type envelope struct{}

func (envelope) Marshal(v any) (string, error) {
	b, err := json.Marshal(v)
	return `{"v":` + string(b) + `}`, err
}

func (envelope) Unmarshal(s string, v any) error {
	var e struct{ V json.RawMessage }
	if err := json.Unmarshal([]byte(s), &e); err != nil || e.V == nil {
		return fmt.Errorf("not in an envelope: %s", s)
	}
	return json.Unmarshal(e.V, v)
}

var (
	convUpper = durable.NewActivity("ConvUpper", func(_ context.Context, s string) (string, error) {
		return strings.ToUpper(s), nil
	})
	convChild = durable.NewOrchestration("ConvChild", func(ctx durable.Context, s string) (string, error) {
		return s + "!", nil
	})
	convOrch = durable.NewOrchestration("ConvOrch", func(ctx durable.Context, in string) (string, error) {
		up, err := convUpper.Call(ctx, in).Await(ctx)
		if err != nil {
			return "", err
		}
		if err := ctx.SetCustomStatus(map[string]string{"at": "event"}); err != nil {
			return "", err
		}
		ev, err := durable.WaitForEvent[string](ctx, "Go").Await(ctx)
		if err != nil {
			return "", err
		}
		var fromCoroutine string
		if err := durable.Go(ctx, func(ctx durable.Context) {
			fromCoroutine, _ = convChild.CallSub(ctx, ev).Await(ctx)
		}); err != nil {
			return "", err
		}
		if err := durable.Await(ctx, func() bool { return fromCoroutine != "" }); err != nil {
			return "", err
		}
		return up + " " + fromCoroutine, nil
	})
)

// The DataConverter belongs to a worker and a client, not to the process:
// two environments in one process, one with the envelope converter and
// one with the default, run the same orchestration at the same time, and
// each stores its payloads (input, output, custom status, the activity's
// input and result, a sub-orchestration's input and output, an event)
// with its own converter.
func TestDataConverterPerWorkerAndClient(t *testing.T) {
	for _, tc := range []struct {
		name string
		conv durable.DataConverter
		want func(string) string
	}{
		{"envelope", envelope{}, func(v string) string { return `{"v":` + v + `}` }},
		{"default", nil, func(v string) string { return v }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := durabletest.New(t, durabletest.Options{Worker: worker.Options{DataConverter: tc.conv}})
			env.Register(convOrch, convUpper, convChild)
			run := durabletest.Start(env, convOrch, "abc")
			run.WaitFor("the event wait", func(s *client.State) bool { return s.CustomStatus != nil })
			env.RaiseEvent(run.ID, "Go", "go")
			out, err := run.Result()
			if err != nil || out != "ABC go!" {
				t.Fatalf("result %q, %v", out, err)
			}
			st := run.State()
			for what, got := range map[string]*string{"input": st.Input, "output": st.Output, "custom status": st.CustomStatus} {
				want := map[string]string{"input": tc.want(`"abc"`), "output": tc.want(`"ABC go!"`),
					"custom status": tc.want(`{"at":"event"}`)}[what]
				if got == nil || *got != want {
					t.Errorf("stored %s %v, want %s", what, deref(got), want)
				}
			}
			// The history holds the activity's result, the event and the
			// child's output as the worker's converter wrote them.
			got := map[string]string{}
			for _, ev := range env.History(run.ID) {
				switch v := ev.(type) {
				case *history.TaskCompletedEvent:
					got["activity result"] = deref(v.Result)
				case *history.EventRaisedEvent:
					got["event"] = deref(v.Input)
				case *history.SubOrchestrationInstanceCompletedEvent:
					got["child output"] = deref(v.Result)
				}
			}
			for what, v := range map[string]string{"activity result": `"ABC"`, "event": `"go"`, "child output": `"go!"`} {
				if got[what] != tc.want(v) {
					t.Errorf("history: %s %s, want %s", what, got[what], tc.want(v))
				}
			}
		})
	}
}

func deref(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// A worker's converter also decodes: a worker with the envelope converter
// fails an instance started by a client with the default one, because it
// cannot read the input, and says so.
func TestDataConverterMismatchFailsTheInstance(t *testing.T) {
	env := durabletest.New(t, durabletest.Options{Worker: worker.Options{DataConverter: envelope{}}})
	env.Register(convOrch, convUpper, convChild)
	plain := client.New(env.Backend, client.Options{Clock: env.Clock})
	env.StartWorker()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id, err := plain.ScheduleNew(ctx, convOrch.Name(), "abc")
	if err != nil {
		t.Fatal(err)
	}
	st, err := plain.WaitForCompletion(ctx, id, client.PollInterval(time.Millisecond, 20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != client.Failed || !strings.Contains(deref(st.Output), "not in an envelope") {
		t.Fatalf("%s %s", st.Status, deref(st.Output))
	}
}
