package schedule

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	_ "time/tzdata" // every worker can load every zone, whatever its system has

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/payload"
	"github.com/azdurable/azdurable/provider"
	"github.com/robfig/cron/v3"
)

// The names a schedule leaves in history. Stored schedules refer to them,
// so they never change.
const (
	// OrchestrationName is the schedule orchestration.
	OrchestrationName = "azdurable.Schedule"
	// StartActivityName is the activity that starts one tick's instance.
	StartActivityName = "azdurable.StartScheduledInstance"
	// ControlEventName is the external event that pauses, resumes or
	// deletes a schedule (its payload is a Control).
	ControlEventName = "azdurable.ScheduleControl"
	// IDPrefix starts the instance id of every schedule: schedule N is the
	// instance IDPrefix+N. Ids with this prefix are reserved for schedules.
	IDPrefix = "schedule:"
)

// Limits and defaults.
const (
	// DefaultGrace is how late a tick may be started and still count as
	// on time, when Options.Grace is zero.
	DefaultGrace = time.Minute
	// MaxNameLength bounds a schedule's name.
	MaxNameLength = 100
	// MaxInputSize bounds the input (as JSON text) that every tick's
	// instance is started with; the schedule carries it in its own state
	// and in every start.
	MaxInputSize = 32 << 10
	// maxNameText bounds orchestration names and versions.
	maxNameText = 256
)

// CatchUp says what happens to ticks that passed while no worker ran the
// schedule (ticks more than Grace in the past when the schedule looks).
type CatchUp string

// The catch-up policies.
const (
	// CatchUpLatest starts the most recent missed tick, late, and skips
	// the others; if a tick is due on time anyway, every missed one is
	// skipped. It is the default.
	CatchUpLatest CatchUp = "latest"
	// CatchUpAll starts every missed tick, late, each once, in order.
	CatchUpAll CatchUp = "all"
	// CatchUpNone skips every missed tick.
	CatchUpNone CatchUp = "none"
)

// ParseCatchUp reads a policy name ("" is the default, latest).
func ParseCatchUp(s string) (CatchUp, error) {
	switch c := CatchUp(strings.ToLower(strings.TrimSpace(s))); c {
	case "":
		return CatchUpLatest, nil
	case CatchUpLatest, CatchUpAll, CatchUpNone:
		return c, nil
	}
	return "", invalidf("schedule: catch-up policy %q is not one of latest, all or none", s)
}

// Options say what a schedule starts and when.
type Options struct {
	// Cron is the CRON expression: five fields (minute hour day-of-month
	// month day-of-week), or six with seconds first, or a descriptor such
	// as @hourly, @daily or @every 90s.
	Cron string
	// TimeZone is the IANA zone the expression is read in, such as
	// Europe/Berlin ("" means UTC; the machine's local zone is never
	// implied).
	TimeZone string
	// Orchestration and Version name what each tick starts.
	Orchestration string
	Version       string
	// Input is every tick's input, encoded with the data converter (a
	// json.RawMessage is stored as it is); nil means none.
	Input any
	// CatchUp is the policy for missed ticks (default CatchUpLatest).
	CatchUp CatchUp
	// Grace is how late a tick may be started and still count as on time
	// (default DefaultGrace); later ticks follow CatchUp.
	Grace time.Duration
	// End, if set, ends the schedule after its last tick at or before End.
	End time.Time
}

// Definition is a validated schedule, as it is stored.
type Definition struct {
	Name          string
	Cron          string
	TimeZone      string
	Orchestration string
	Version       string
	// Input is every tick's input as JSON text (nil: none).
	Input   *string
	CatchUp CatchUp
	Grace   time.Duration
	// End is zero when the schedule does not end by itself.
	End time.Time

	sched cron.Schedule
}

// invalidError is a validation error; it matches provider.ErrInvalid.
type invalidError struct{ msg string }

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == provider.ErrInvalid }

func invalidf(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// ValidateName checks a schedule name: 1 to MaxNameLength letters, digits,
// '.', '_' or '-', starting with a letter or digit (the name is part of
// instance ids, table keys and URLs).
func ValidateName(name string) error {
	switch {
	case name == "":
		return invalidf("schedule: the name is empty")
	case len(name) > MaxNameLength:
		return invalidf("schedule: the name is longer than %d characters", MaxNameLength)
	case !nameRE.MatchString(name):
		return invalidf("schedule: name %q may hold only letters, digits, '.', '_' and '-', and must start with a letter or digit", name)
	}
	return nil
}

// New validates a schedule created at now, its input encoded with conv
// (nil: JSON). Every error matches provider.ErrInvalid.
func New(name string, o Options, now time.Time, conv payload.Converter) (*Definition, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	zone := strings.TrimSpace(o.TimeZone)
	if zone == "" {
		zone = "UTC"
	}
	sched, err := compile(o.Cron, zone)
	if err != nil {
		return nil, err
	}
	if err := checkText("orchestration name", o.Orchestration, true); err != nil {
		return nil, err
	}
	if err := checkText("orchestration version", o.Version, false); err != nil {
		return nil, err
	}
	catchUp, err := ParseCatchUp(string(o.CatchUp))
	if err != nil {
		return nil, err
	}
	grace := o.Grace
	switch {
	case grace < 0:
		return nil, invalidf("schedule: grace %v is negative", grace)
	case grace == 0:
		grace = DefaultGrace
	}
	d := &Definition{Name: name, Cron: strings.TrimSpace(o.Cron), TimeZone: zone, Orchestration: o.Orchestration,
		Version: o.Version, CatchUp: catchUp, Grace: grace, sched: sched}
	if !o.End.IsZero() {
		d.End = o.End.UTC()
	}
	if o.Input != nil {
		text, err := payload.Or(conv).Marshal(o.Input)
		if err != nil {
			return nil, invalidf("schedule: encoding the input: %v", err)
		}
		if len(text) > MaxInputSize {
			return nil, invalidf("schedule: the input is %d bytes of JSON; a schedule's input may have at most %d", len(text), MaxInputSize)
		}
		d.Input = &text
	}
	if d.Next(now).IsZero() {
		if !d.End.IsZero() {
			return nil, invalidf("schedule: %q has no tick between now and the end, %s", d.Cron, d.End.Format(time.RFC3339))
		}
		return nil, invalidf("schedule: %q has no tick in the next five years", d.Cron)
	}
	return d, nil
}

func checkText(what, s string, required bool) error {
	if required && strings.TrimSpace(s) == "" {
		return invalidf("schedule: the %s is empty", what)
	}
	if len(s) > maxNameText {
		return invalidf("schedule: the %s is longer than %d characters", what, maxNameText)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return invalidf("schedule: the %s holds a control character", what)
		}
	}
	return nil
}

// parser reads five fields, or six with seconds first, or a descriptor.
var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// compile parses a CRON expression in a time zone.
func compile(expr, zone string) (sched cron.Schedule, err error) {
	e := strings.TrimSpace(expr)
	if e == "" {
		return nil, invalidf("schedule: the CRON expression is empty")
	}
	if strings.HasPrefix(e, "TZ=") || strings.HasPrefix(e, "CRON_TZ=") {
		return nil, invalidf("schedule: give the time zone apart (the time zone option), not in the CRON expression")
	}
	if strings.EqualFold(zone, "Local") {
		return nil, invalidf("schedule: the time zone must be named (such as UTC or Europe/Berlin), not Local")
	}
	loc, lerr := time.LoadLocation(zone)
	if lerr != nil {
		return nil, invalidf("schedule: unknown time zone %q (use an IANA name such as UTC or Europe/Berlin)", zone)
	}
	defer func() {
		if p := recover(); p != nil {
			sched, err = nil, invalidf("schedule: CRON expression %q cannot be read", e)
		}
	}()
	s, perr := parser.Parse(e)
	if perr != nil {
		return nil, invalidf("schedule: CRON expression %q: %v", e, perr)
	}
	if spec, ok := s.(*cron.SpecSchedule); ok {
		spec.Location = loc
	}
	return s, nil
}

// Next returns the first tick strictly after t, in UTC, or the zero time
// when there is none (past End, or none within five years).
func (d *Definition) Next(t time.Time) time.Time {
	from := t
	// The parser's ticks always move forward; this guards the schedule's
	// loop against a zone transition that would make one repeat.
	for range 3 {
		n := d.sched.Next(from)
		if n.IsZero() {
			return time.Time{}
		}
		if n.After(t) {
			n = n.UTC()
			if !d.End.IsZero() && n.After(d.End) {
				return time.Time{}
			}
			return n
		}
		from = from.Add(time.Second)
	}
	return time.Time{}
}

// InstanceID returns the schedule's reserved instance id.
func (d *Definition) InstanceID() string { return InstanceID(d.Name) }

// InstanceID returns the reserved instance id of the schedule name.
func InstanceID(name string) string { return IDPrefix + name }

// tickLayout is the tick time in tick instance ids: UTC, whole seconds.
const tickLayout = "20060102T150405Z"

// TickInstanceID returns the id of the instance that the schedule name
// starts for the tick at t: name@yyyyMMddTHHmmssZ (UTC). Ticks fall on
// whole seconds, so the id is unique per tick, and ids of different
// schedules never meet ('@' is not allowed in names).
func TickInstanceID(name string, t time.Time) string {
	return name + "@" + t.UTC().Format(tickLayout)
}

// ParseTickInstanceID reads a tick instance id back: the schedule's name
// and the tick time. Orchestrations started by a schedule can use it to
// learn which tick they serve.
func ParseTickInstanceID(id string) (name string, tick time.Time, ok bool) {
	i := strings.LastIndexByte(id, '@')
	if i <= 0 {
		return "", time.Time{}, false
	}
	t, err := time.Parse(tickLayout, id[i+1:])
	if err != nil || ValidateName(id[:i]) != nil {
		return "", time.Time{}, false
	}
	return id[:i], t, true
}

// TickDedupeStatuses are the statuses in which an existing instance makes
// a tick's start a no-op: all of them, so that a start that runs again
// never replaces the tick's instance, running or finished.
func TickDedupeStatuses() []history.OrchestrationStatus { return history.Statuses() }

// ErrNotSchedule means an instance is not a schedule.
var ErrNotSchedule = errors.New("schedule: the instance is not a schedule")
