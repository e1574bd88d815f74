package entity

import (
	"strings"
	"time"

	"github.com/azdurable/azdurable/internal/netjson"
)

// Stamp is a .NET DateTime as the extension writes its message clocks: a
// time at 100 ns precision and its kind. A UTC stamp is written with a
// trailing Z; an unspecified one (DateTime.MinValue, or a clock advanced by
// one tick with new DateTime(ticks)) without. Comparisons use the time
// only, as .NET compares DateTime values.
type Stamp struct {
	T   time.Time
	UTC bool
}

// minStamp is DateTime.MinValue: 0001-01-01T00:00:00, unspecified.
var minStamp = Stamp{T: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)}

// UTCStamp returns t as a UTC stamp, truncated to 100 ns.
func UTCStamp(t time.Time) Stamp { return Stamp{T: t.UTC().Truncate(100 * time.Nanosecond), UTC: true} }

// IsZero reports whether s is DateTime.MinValue.
func (s Stamp) IsZero() bool { return !s.T.After(minStamp.T) }

// Before, After and Equal compare the times.
func (s Stamp) Before(o Stamp) bool { return s.T.Before(o.T) }

// After reports whether s is later than o.
func (s Stamp) After(o Stamp) bool { return s.T.After(o.T) }

// Equal reports whether s and o are the same time (kinds aside).
func (s Stamp) Equal(o Stamp) bool { return s.T.Equal(o.T) }

// Add returns s moved by d, keeping the kind.
func (s Stamp) Add(d time.Duration) Stamp { return Stamp{T: s.T.Add(d), UTC: s.UTC} }

// nextTick is new DateTime(s.Ticks + 1): one tick later, unspecified.
func (s Stamp) nextTick() Stamp { return Stamp{T: s.T.Add(100 * time.Nanosecond)} }

// String is Newtonsoft's text of the DateTime.
func (s Stamp) String() string {
	if s.T.IsZero() {
		s.T = minStamp.T
	}
	text := s.T.UTC().Truncate(100 * time.Nanosecond).Format("2006-01-02T15:04:05.9999999")
	if s.UTC {
		text += "Z"
	}
	return text
}

// parseStamp reads a DateTime text: a trailing Z (or an offset) makes it
// UTC, none leaves it unspecified.
func parseStamp(text string) (Stamp, error) {
	t, err := netjson.ParseTime(text)
	if err != nil {
		return Stamp{}, err
	}
	text = strings.TrimSpace(text)
	utc := strings.HasSuffix(text, "Z") || strings.HasSuffix(text, "z") || hasOffset(text)
	return Stamp{T: t, UTC: utc}, nil
}

func hasOffset(text string) bool {
	i := strings.IndexByte(text, 'T')
	if i < 0 {
		return false
	}
	rest := text[i:]
	return strings.ContainsAny(rest, "+") || strings.Count(rest, "-") > 0
}
