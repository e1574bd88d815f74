package provider

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/history"
)

func TestValidateInstanceID(t *testing.T) {
	ok := []string{"a", strings.Repeat("a", 512), strings.Repeat("/", 256), strings.Repeat("😀", 256), "@counter@k1", " "}
	bad := []string{"", strings.Repeat("a", 513), strings.Repeat("/", 257), strings.Repeat("😀", 257),
		strings.Repeat("\x00", 257), strings.Repeat("^", 257), "a\xffb", "\xed\xa0\x80"}
	for _, id := range ok {
		if err := ValidateInstanceID(id); err != nil {
			t.Errorf("%.20q (%d bytes): %v", id, len(id), err)
		}
	}
	for _, id := range bad {
		if err := ValidateInstanceID(id); !errors.Is(err, ErrInvalid) {
			t.Errorf("%.20q (%d bytes): %v, want ErrInvalid", id, len(id), err)
		}
	}
	if err := ValidateInstanceID(strings.Repeat("x", 2000)); err == nil || len(err.Error()) > 200 {
		t.Errorf("a long id's error should be short: %v", err)
	}
}

func startOf(id, exec, name string) *history.TaskMessage {
	inst := history.OrchestrationInstance{InstanceID: id, ExecutionID: exec}
	return &history.TaskMessage{OrchestrationInstance: inst, Event: &history.ExecutionStartedEvent{OrchestrationInstance: inst, Name: name}}
}

func TestValidateStart(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := ValidateStart(startOf("i", "e", "Orch"), now); err != nil {
		t.Fatal(err)
	}
	week := now.Add(MaxVisibilityDelay)
	late := now.Add(MaxVisibilityDelay + time.Second)
	cases := map[string]*history.TaskMessage{
		"nil":          nil,
		"not a start":  {Event: &history.EventRaisedEvent{Name: "x"}},
		"no name":      startOf("i", "e", " "),
		"no execution": startOf("i", "", "Orch"),
		"bad id":       startOf(strings.Repeat("#", 300), "e", "Orch"),
		"misaddressed": func() *history.TaskMessage {
			m := startOf("i", "e", "Orch")
			m.OrchestrationInstance.InstanceID = "j"
			return m
		}(),
		"8 days ahead": func() *history.TaskMessage {
			m := startOf("i", "e", "Orch")
			m.Event.(*history.ExecutionStartedEvent).ScheduledStartTime = &late
			return m
		}(),
		"huge version": func() *history.TaskMessage {
			m := startOf("i", "e", "Orch")
			m.Event.(*history.ExecutionStartedEvent).Version = strings.Repeat("v", 40000)
			return m
		}(),
		// No Azure table stores a date-time before 1601.
		"scheduled in year 1": func() *history.TaskMessage {
			m := startOf("i", "e", "Orch")
			m.Event.(*history.ExecutionStartedEvent).ScheduledStartTime = &time.Time{}
			return m
		}(),
		// The Instances row keeps the name in a column of its own.
		"huge name": startOf("i", "e", strings.Repeat("n", 40000)),
		// The Instances row keeps the tags, as JSON, in a column of their
		// own; a checkpoint could not write the row.
		"huge tags": func() *history.TaskMessage {
			m := startOf("i", "e", "Orch")
			m.Event.(*history.ExecutionStartedEvent).Tags = map[string]string{"t": strings.Repeat("x", 40000)}
			return m
		}(),
	}
	for what, m := range cases {
		if err := ValidateStart(m, now); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", what, err)
		}
	}
	m := startOf("i", "e", "Orch")
	m.Event.(*history.ExecutionStartedEvent).ScheduledStartTime = &late
	if err := ValidateStart(m, now); !errors.Is(err, ErrDelayTooLong) {
		t.Errorf("8 days ahead: %v, want ErrDelayTooLong too", err)
	}
	m.Event.(*history.ExecutionStartedEvent).ScheduledStartTime = &week
	if err := ValidateStart(m, now); err != nil {
		t.Errorf("7 days ahead: %v", err)
	}
}

func TestValidateEpisode(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	self := history.OrchestrationInstance{InstanceID: "i", ExecutionID: "e"}
	good := &EpisodeResult{NewEvents: []history.Event{&history.TaskScheduledEvent{Name: "A"}}, Outbox: []*history.TaskMessage{
		{Event: &history.TaskScheduledEvent{Name: "A"}}, // an empty address means the committing instance
		{Event: &history.TimerFiredEvent{FireAt: now.Add(time.Hour)}, OrchestrationInstance: self},
		{Event: &history.EventRaisedEvent{Name: "E"}, OrchestrationInstance: history.OrchestrationInstance{InstanceID: "other"}},
		startOf("child", "c", "Child"),
	}}
	if err := ValidateEpisode("i", good, now); err != nil {
		t.Fatal(err)
	}
	if err := ValidateEpisode("", good, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("own id empty: %v", err)
	}
	cases := map[string]*history.TaskMessage{
		"event to an empty id":   {Event: &history.EventRaisedEvent{Name: "E"}},
		"event to a too long id": {Event: &history.EventRaisedEvent{Name: "E"}, OrchestrationInstance: history.OrchestrationInstance{InstanceID: strings.Repeat("a", 600)}},
		"child without a name":   startOf("child", "c", ""),
		"timer 8 days ahead":     {Event: &history.TimerFiredEvent{FireAt: now.Add(8 * 24 * time.Hour)}, OrchestrationInstance: self},
		"empty message":          {},
	}
	for what, m := range cases {
		r := &EpisodeResult{Outbox: []*history.TaskMessage{m}}
		if err := ValidateEpisode("i", r, now); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", what, err)
		}
	}
	yearOne := &EpisodeResult{NewEvents: []history.Event{&history.TimerCreatedEvent{EventBase: history.EventBase{EventID: 0}}}}
	if err := ValidateEpisode("i", yearOne, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("a timer at year 1, which no Azure table stores: %v", err)
	}
	long := &EpisodeResult{NewEvents: []history.Event{&history.TaskScheduledEvent{Name: "A", Version: strings.Repeat("v", 40000)}}}
	if err := ValidateEpisode("i", long, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("a version no column holds: %v", err)
	}
}
