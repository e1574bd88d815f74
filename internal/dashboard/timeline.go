package dashboard

import (
	"fmt"
	"time"

	"github.com/azdurable/azdurable/history"
)

// Bar is one span of an instance's timeline: an activity call, a timer or
// a sub-orchestration, from its scheduling to its completion. Every retry
// of an activity or sub-orchestration is a call of its own in the history,
// so it gets a bar of its own, marked Retry.
type Bar struct {
	// Kind is "activity", "timer" or "suborchestration".
	Kind string
	// Name is the activity or orchestration name ("" for a timer).
	Name string
	// TaskID is the scheduling event's id.
	TaskID int32
	// Start is when it was scheduled; End when it completed (zero while
	// it has not).
	Start, End time.Time
	// Outcome is "completed", "failed" or "pending".
	Outcome string
	// Retry says an earlier call of the same name failed.
	Retry bool
	// Child is a sub-orchestration's instance id.
	Child string
}

// Bars builds the timeline of one execution's history, in scheduling
// order. It is pure: the history in, the bars out.
func Bars(events []history.Event) []Bar {
	var bars []Bar
	open := map[int32]int{} // task id → index in bars (activities, sub-orchestrations)
	timers := map[int32]int{}
	failed := map[string]bool{}
	end := func(idx map[int32]int, id int32, at time.Time, outcome string) {
		if i, ok := idx[id]; ok && bars[i].Outcome == "pending" {
			bars[i].End, bars[i].Outcome = at, outcome
			if outcome == "failed" {
				failed[bars[i].Kind+"\x00"+bars[i].Name] = true
			}
		}
	}
	for _, ev := range events {
		b := ev.Base()
		switch e := ev.(type) {
		case *history.TaskScheduledEvent:
			open[b.EventID] = len(bars)
			bars = append(bars, Bar{Kind: "activity", Name: e.Name, TaskID: b.EventID, Start: b.Timestamp,
				Outcome: "pending", Retry: failed["activity\x00"+e.Name]})
		case *history.SubOrchestrationInstanceCreatedEvent:
			open[b.EventID] = len(bars)
			bars = append(bars, Bar{Kind: "suborchestration", Name: e.Name, TaskID: b.EventID, Start: b.Timestamp,
				Outcome: "pending", Child: e.InstanceID, Retry: failed["suborchestration\x00"+e.Name]})
		case *history.TimerCreatedEvent:
			timers[b.EventID] = len(bars)
			bars = append(bars, Bar{Kind: "timer", TaskID: b.EventID, Start: b.Timestamp, Outcome: "pending",
				Name: "until " + e.FireAt.UTC().Format(time.RFC3339)})
		case *history.TaskCompletedEvent:
			end(open, e.TaskScheduledID, b.Timestamp, "completed")
		case *history.TaskFailedEvent:
			end(open, e.TaskScheduledID, b.Timestamp, "failed")
		case *history.SubOrchestrationInstanceCompletedEvent:
			end(open, e.TaskScheduledID, b.Timestamp, "completed")
		case *history.SubOrchestrationInstanceFailedEvent:
			end(open, e.TaskScheduledID, b.Timestamp, "failed")
		case *history.TimerFiredEvent:
			end(timers, e.TimerID, b.Timestamp, "completed")
		}
	}
	return bars
}

// svgBar is a Bar placed on the drawing.
type svgBar struct {
	Bar
	X, Y, W   float64
	Label     string
	Tooltip   string
	TextX     float64
	LabelLeft bool
}

// tick is a mark of the time axis: a grid line and the time since the
// first event.
type tick struct {
	X      float64
	Label  string
	Anchor string // text-anchor: start, middle or end
}

// timeline is the drawing of a history's bars.
type timeline struct {
	Bars          []svgBar
	Ticks         []tick
	Width, Height float64
	AxisY         float64
	From, To      time.Time
	Span          string
}

// Drawing geometry.
const (
	tlWidth  = 960.0
	tlLeft   = 8.0
	tlRow    = 22.0
	tlBar    = 16.0
	tlTop    = 26.0 // below the axis labels
	tlAxisY  = 14.0
	tlTicks  = 4
	tlMinBar = 3.0
)

// layout places bars on a time axis from first to last (the execution's
// first and last events), stretched to hold every bar; a bar still open
// runs to now.
func layout(bars []Bar, first, last, now time.Time) *timeline {
	if len(bars) == 0 {
		return nil
	}
	from, to := first, last
	if to.Before(from) {
		to = from
	}
	for _, b := range bars {
		if from.IsZero() || b.Start.Before(from) {
			from = b.Start
		}
		e := b.End
		if e.IsZero() {
			e = now
		}
		if e.After(to) {
			to = e
		}
		if b.Start.After(to) {
			to = b.Start
		}
	}
	span := to.Sub(from)
	if span <= 0 {
		span = time.Millisecond
	}
	scale := (tlWidth - 2*tlLeft) / float64(span)
	t := &timeline{Width: tlWidth, Height: tlTop + 8 + tlRow*float64(len(bars)), AxisY: tlAxisY, From: from, To: to,
		Span: span.Round(time.Millisecond).String()}
	for i := 0; i <= tlTicks; i++ {
		at := span * time.Duration(i) / tlTicks
		anchor := "middle"
		switch i {
		case 0:
			anchor = "start"
		case tlTicks:
			anchor = "end"
		}
		t.Ticks = append(t.Ticks, tick{X: tlLeft + float64(at)*scale, Label: "+" + roundSpan(at).String(), Anchor: anchor})
	}
	for i, b := range bars {
		e := b.End
		if e.IsZero() {
			e = now
		}
		x := tlLeft + float64(b.Start.Sub(from))*scale
		w := float64(e.Sub(b.Start)) * scale
		if w < tlMinBar {
			w = tlMinBar
		}
		label := b.Name
		switch b.Kind {
		case "timer":
			label = "timer " + b.Name
		case "suborchestration":
			label = "sub-orchestration " + b.Name
		}
		if b.Retry {
			label += " (retry)"
		}
		dur := "not finished"
		if !b.End.IsZero() {
			dur = b.End.Sub(b.Start).Round(time.Millisecond).String()
		}
		sb := svgBar{Bar: b, X: x, Y: tlTop + tlRow*float64(i), W: w, Label: label,
			Tooltip: fmt.Sprintf("#%d %s: %s, %s", b.TaskID, label, b.Outcome, dur)}
		// Labels go right of the bar, or left of it near the right edge.
		if x+w+4 < tlWidth*0.7 {
			sb.TextX = x + w + 4
		} else {
			sb.TextX, sb.LabelLeft = x-4, true
		}
		t.Bars = append(t.Bars, sb)
	}
	return t
}

// roundSpan rounds a duration for an axis label.
func roundSpan(d time.Duration) time.Duration {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}
