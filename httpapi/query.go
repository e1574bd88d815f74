package httpapi

import (
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/history"
)

// query holds a request's query parameters the way the extension reads
// them: names in any case, values URL-decoded with '+' as a space, and a
// name given twice yields its values joined with ','.
type query map[string]string

func parseQuery(raw string) query {
	q := query{}
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			continue
		}
		value, err := url.QueryUnescape(v)
		if err != nil {
			continue
		}
		key := strings.ToLower(name)
		if prev, ok := q[key]; ok {
			value = prev + "," + value
		}
		q[key] = value
	}
	return q
}

// get returns the value and whether the parameter is present.
func (q query) get(name string) (string, bool) {
	v, ok := q[strings.ToLower(name)]
	return v, ok
}

// str returns the value, or "" when absent.
func (q query) str(name string) string {
	v, _ := q.get(name)
	return v
}

// boolean returns the parameter as a bool: "true" or "false" in any case,
// spaces around allowed. Anything else, or absence, gives def.
func (q query) boolean(name string, def bool) bool {
	v, ok := q.get(name)
	if !ok {
		return def
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true":
		return true
	case "false":
		return false
	}
	return def
}

// integer returns the parameter as an int (optional sign, decimal digits,
// spaces around allowed) and whether it parsed.
func (q query) integer(name string) (int, bool) {
	v, ok := q.get(name)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	return n, err == nil
}

// seconds returns a decimal number of seconds and whether it parsed.
func (q query) seconds(name string) (time.Duration, bool) {
	v, ok := q.get(name)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > 1e9 {
		return 0, false
	}
	return time.Duration(f * float64(time.Second)), true
}

// dateLayouts are the date-time forms accepted after RFC 3339: ISO 8601
// without an offset (taken as UTC, as on an Azure host) and a bare date.
var dateLayouts = []string{
	"2006-01-02T15:04:05.9999999",
	"2006-01-02T15:04",
	"2006-01-02 15:04:05.9999999Z07:00",
	"2006-01-02 15:04:05.9999999",
	"2006-01-02",
}

// parseTime parses a date-time query value as the extension accepts it:
// RFC 3339 with or without a fraction, ISO 8601 without an offset (UTC) or
// a bare date, normalised to UTC.
func parseTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), true
	}
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// time returns the parameter as a UTC time and whether it parsed.
func (q query) time(name string) (time.Time, bool) {
	v, ok := q.get(name)
	if !ok {
		return time.Time{}, false
	}
	return parseTime(v)
}

// statuses returns the runtimeStatus list: comma-separated (and repeated)
// tokens, each an exact, case-sensitive status name or its number. Bad
// tokens are dropped; nil means no status filter.
func (q query) statuses(name string) []client.Status {
	v, ok := q.get(name)
	if !ok {
		return nil
	}
	return parseStatusList(v)
}

// parseStatusList parses a runtimeStatus list as the extension does:
// comma-separated tokens, each an exact (case-sensitive) status name such
// as "Running", or its number; spaces around tokens are allowed and bad
// tokens are dropped.
func parseStatusList(v string) []client.Status {
	var out []client.Status
	for _, tok := range strings.Split(v, ",") {
		tok = strings.TrimSpace(tok)
		if tok == "" {
			continue
		}
		if s, ok := exactStatus(tok); ok {
			out = append(out, s)
		}
	}
	return out
}

func exactStatus(tok string) (client.Status, bool) {
	for _, s := range history.Statuses() {
		if s.String() == tok {
			return s, true
		}
	}
	if n, err := strconv.Atoi(tok); err == nil && history.OrchestrationStatus(n).Valid() {
		return history.OrchestrationStatus(n), true
	}
	return 0, false
}
