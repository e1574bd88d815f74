package conformance

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/azdurable/azdurable/history"
)

// Case is one run of a reference orchestration with what any worker, C# or
// Go, must make of it: the events to raise after the start, the final
// status and output, and the durable actions of the last execution's
// history.
type Case struct {
	// ID is the instance id.
	ID string
	// Name is the orchestration's name; Input its input as JSON.
	Name, Input string
	// Raise lists the events to send once the instance exists.
	Raise []Raise
	// Status is the final status by C# name (Completed, Failed).
	Status string
	// Output is the final output: JSON for Completed, the bare failure
	// reason for Failed.
	Output string
	// Actions are the last execution's durable actions as [Actions] writes
	// them; "{exec}" stands for the execution id.
	Actions []string
	// Activities counts the SayHello calls a run makes (all generations).
	Activities int
}

// Raise is an event to send to an instance.
type Raise struct {
	InstanceID, Event, Data string
}

// OutputIsJSON reports whether Output is a JSON value (it is the bare
// failure reason otherwise).
func (c Case) OutputIsJSON() bool { return c.Status == "Completed" }

// Catalog returns one or more cases for every reference orchestration; the
// instance ids are prefix+"-"+a short name. Timers are short (at most 2 s),
// and no case involves PingTarget's instance, so many catalogs can share a
// hub.
func Catalog(prefix string) []Case {
	id := func(s string) string { return prefix + "-" + s }
	q := strconv.Quote
	hello := func(s string) string { return q("Hello " + s + "!") }
	seq := func(n int, f func(i int) string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	activity := func(name string) func(int) string {
		return func(i int) string { return fmt.Sprintf("#%d %s", i, name) }
	}
	waiter := id("pow-child")
	return []Case{
		{ID: id("hello"), Name: "HelloCities", Input: q("x"), Status: "Completed",
			Output:  `["Hello Tokyo!","Hello Seattle!","Hello London!"]`,
			Actions: seq(3, activity("SayHello")), Activities: 3},
		{ID: id("chain5"), Name: "Chain5", Input: q("x"), Status: "Completed", Output: hello("c4"),
			Actions: seq(5, activity("SayHello")), Activities: 5},
		{ID: id("chain0"), Name: "Chain", Input: "0", Status: "Completed", Output: q(""), Actions: []string{}},
		{ID: id("chain3"), Name: "Chain", Input: "3", Status: "Completed", Output: hello("c2"),
			Actions: seq(3, activity("SayHello")), Activities: 3},
		{ID: id("fanout"), Name: "FanOut", Input: "6", Status: "Completed", Output: "6",
			Actions: seq(6, activity("SayHello")), Activities: 6},
		{ID: id("caught"), Name: "Caught", Input: q("c"), Status: "Completed", Output: q("caught: card declined: c"),
			Actions: []string{"#0 Fail"}},
		{ID: id("uncaught"), Name: "Uncaught", Input: q("u"), Status: "Failed", Output: "card declined: u",
			Actions: []string{"#0 Fail"}},
		{ID: id("retried"), Name: "Retried", Input: q("r"), Status: "Completed", Output: q("retried: card declined: r"),
			Actions: []string{"#0 Fail", "#1 timer", "#2 Fail", "#3 timer"}},
		{ID: id("child"), Name: "Child", Input: q("kid"), Status: "Completed", Output: hello("kid"),
			Actions: []string{"#0 SayHello"}, Activities: 1},
		{ID: id("parent"), Name: "Parent", Input: q("kid"), Status: "Completed", Output: q("Hello kid-child!|yes"),
			Raise:   []Raise{{InstanceID: id("parent"), Event: "Approval", Data: q("yes")}},
			Actions: []string{"#0 sub Child {exec}:0", "#1 timer", "#2 send Ping " + PingTarget}, Activities: 1},
		{ID: id("waiter"), Name: "Waiter", Input: q("w"), Status: "Completed", Output: q("went"),
			Raise: []Raise{{InstanceID: id("waiter"), Event: "Go", Data: q("went")}}, Actions: []string{}},
		{ID: id("counter"), Name: "Counter", Input: "0", Status: "Completed", Output: "2", Actions: []string{}},
		{ID: id("big"), Name: "BigPayload", Input: "70000", Status: "Completed", Output: "70000",
			Actions: []string{"#0 Big"}},
		{ID: id("flow"), Name: "InteropFlow", Input: q("héllo"), Status: "Completed",
			Output:  `["Hello Tokyo!","go on","Hello Seattle!","Hello London!","5"]`,
			Raise:   []Raise{{InstanceID: id("flow"), Event: "Continue", Data: q("go on")}},
			Actions: []string{"#0 SayHello", "#1 SayHello", "#2 timer", "#3 sub Child {exec}:3"}, Activities: 3},
		{ID: id("sleeper"), Name: "Sleeper", Input: "1", Status: "Completed", Output: hello("Sleep"),
			Actions: []string{"#0 timer", "#1 SayHello"}, Activities: 1},
		{ID: id("stuck"), Name: "Stuck", Input: q("item"), Status: "Completed", Output: q("slow item"),
			Actions: []string{"#0 Slow"}},
		{ID: id("slowfan"), Name: "SlowFan", Input: "3", Status: "Completed", Output: "3",
			Actions: seq(3, activity("Slow"))},
		{ID: id("pow"), Name: "ParentOfWaiter", Input: q(waiter), Status: "Completed", Output: q("parent:pinged"),
			Raise:   []Raise{{InstanceID: waiter, Event: "Ping", Data: q("pinged")}},
			Actions: []string{"#0 sub Waiter " + waiter}},
		{ID: id("ticker"), Name: "Ticker", Input: "2", Status: "Completed", Output: "3", Actions: []string{"#0 timer"}},
	}
}

// Actions describes the durable actions in a history, one string each in
// task-id order of appearance: "#n Name" for an activity, "#n timer",
// "#n sub Name instance" for a sub-orchestration and "#n send Name
// instance" for a sent event. Waits, custom status and completions are not
// listed. If exec is not empty, it is replaced by "{exec}" in instance ids.
func Actions(events []history.Event, exec string) []string {
	out := []string{}
	sub := func(id string) string {
		if exec != "" {
			return strings.ReplaceAll(id, exec, "{exec}")
		}
		return id
	}
	for _, ev := range events {
		switch v := ev.(type) {
		case *history.TaskScheduledEvent:
			out = append(out, fmt.Sprintf("#%d %s", v.EventID, v.Name))
		case *history.TimerCreatedEvent:
			out = append(out, fmt.Sprintf("#%d timer", v.EventID))
		case *history.SubOrchestrationInstanceCreatedEvent:
			out = append(out, fmt.Sprintf("#%d sub %s %s", v.EventID, v.Name, sub(v.InstanceID)))
		case *history.EventSentEvent:
			out = append(out, fmt.Sprintf("#%d send %s %s", v.EventID, v.Name, sub(v.InstanceID)))
		}
	}
	return out
}

// JSONEqual reports whether two texts are the same JSON value (member order
// and spacing aside; numbers compared as numbers). Text that is not JSON is
// equal to nothing.
func JSONEqual(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
