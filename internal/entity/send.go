package entity

import "time"

// SendFromOrchestration makes a request an orchestration sends to target
// at now (its episode's time) ready to go: it is typed and names the
// orchestration as its sender; a scheduled request (Due set) is named for
// its delivery time, any other is stamped with the orchestration's message
// clock for target (the sorter, which the orchestration rebuilds from its
// sends on every replay). It returns the EventSent's name and input.
func (s *Sorter) SendFromOrchestration(r *Request, parent, parentExecution, target string, now time.Time) (name, input string) {
	r.Typed, r.Parent, r.ParentExecution = true, parent, parentExecution
	name = OpEvent
	if r.Due != nil {
		name = ScheduledOpEvent(DeliveryTime(r.Due.T, now))
	} else {
		s.LabelOutgoing(r, target, UTCStamp(now))
	}
	return name, r.Encode()
}

// RequestTimeText is the requestTime an orchestration writes on its calls
// and signals: its episode's time as a DateTimeOffset text.
func RequestTimeText(now time.Time) *string {
	t := now.UTC().Truncate(100 * time.Nanosecond).Format("2006-01-02T15:04:05.9999999-07:00")
	return &t
}
