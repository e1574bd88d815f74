package netjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Object is a decoded JSON object whose members are looked up by name
// case-insensitively, as Newtonsoft matches C# member names. When a name
// occurs twice (in any case) the last occurrence wins.
type Object struct {
	members map[string]json.RawMessage
	names   []string // original names, in document order, de-duplicated
}

// ErrNotObject is returned when a value that must be an object is not one.
var ErrNotObject = errors.New("not a JSON object")

// ParseObject decodes data, which must be one JSON object.
func ParseObject(data []byte) (*Object, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, ErrNotObject
	}
	o := &Object{members: map[string]json.RawMessage{}}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("invalid JSON: %w", err)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, errors.New("invalid JSON: member name is not a string")
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("invalid JSON in member %q: %w", name, err)
		}
		key := strings.ToLower(name)
		if _, seen := o.members[key]; !seen {
			o.names = append(o.names, name)
		}
		o.members[key] = raw
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if len(bytes.TrimSpace(data[dec.InputOffset():])) > 0 {
		return nil, errors.New("invalid JSON: data after the object")
	}
	return o, nil
}

// Names returns the member names in document order (first spelling seen).
func (o *Object) Names() []string { return o.names }

// Raw returns a member's raw JSON, and whether it is present.
func (o *Object) Raw(name string) (json.RawMessage, bool) {
	raw, ok := o.members[strings.ToLower(name)]
	return raw, ok
}

// Has reports whether the member is present (even as null).
func (o *Object) Has(name string) bool {
	_, ok := o.members[strings.ToLower(name)]
	return ok
}

// IsNull reports whether raw is JSON null (or empty, i.e. absent).
func IsNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// Present returns the member's raw JSON if it is present and not null.
func (o *Object) Present(name string) (json.RawMessage, bool) {
	raw, ok := o.Raw(name)
	if !ok || IsNull(raw) {
		return nil, false
	}
	return raw, true
}

// Object returns a nested object member; nil when absent or null.
func (o *Object) Object(name string) (*Object, error) {
	raw, ok := o.Present(name)
	if !ok {
		return nil, nil
	}
	v, err := ParseObject(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return v, nil
}

// NullableString returns a string member; nil when absent or null. Numbers
// and booleans are accepted and returned as their JSON text, as Newtonsoft
// converts primitives read into a string member.
func (o *Object) NullableString(name string) (*string, error) {
	raw, ok := o.Present(name)
	if !ok {
		return nil, nil
	}
	s, err := stringValue(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &s, nil
}

// String returns a string member, "" when absent or null.
func (o *Object) String(name string) (string, error) {
	p, err := o.NullableString(name)
	if p == nil || err != nil {
		return "", err
	}
	return *p, nil
}

func stringValue(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return s, nil
	case '{', '[':
		return "", errors.New("expected a string, found an object or array")
	default:
		return string(raw), nil
	}
}

// NullableInt returns an integer member; nil when absent or null. Integral
// numbers in any JSON form and numeric strings are accepted.
func (o *Object) NullableInt(name string, bits int) (*int64, error) {
	raw, ok := o.Present(name)
	if !ok {
		return nil, nil
	}
	n, err := intValue(raw, bits)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &n, nil
}

// Int returns an integer member, 0 when absent or null.
func (o *Object) Int(name string, bits int) (int64, error) {
	p, err := o.NullableInt(name, bits)
	if p == nil || err != nil {
		return 0, err
	}
	return *p, nil
}

func intValue(raw json.RawMessage, bits int) (int64, error) {
	text, err := stringValue(raw)
	if err != nil {
		return 0, err
	}
	text = strings.TrimSpace(text)
	n, err := strconv.ParseInt(text, 10, bits)
	if err == nil {
		return n, nil
	}
	f, ferr := strconv.ParseFloat(text, 64)
	if ferr != nil || f != math.Trunc(f) {
		return 0, fmt.Errorf("expected an integer, found %.40q", text)
	}
	limit := math.Ldexp(1, bits-1)
	if f < -limit || f >= limit {
		return 0, fmt.Errorf("integer %s out of range", text)
	}
	return int64(f), nil
}

// Bool returns a boolean member, false when absent or null. The strings
// "true" and "false" (any case) are accepted too.
func (o *Object) Bool(name string) (bool, error) {
	raw, ok := o.Present(name)
	if !ok {
		return false, nil
	}
	text, err := stringValue(raw)
	if err != nil {
		return false, fmt.Errorf("%s: %w", name, err)
	}
	switch strings.ToLower(strings.TrimSpace(text)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%s: expected a boolean, found %.40q", name, text)
}

// NullableTime returns a DateTime member; nil when absent or null.
func (o *Object) NullableTime(name string) (*time.Time, error) {
	raw, ok := o.Present(name)
	if !ok {
		return nil, nil
	}
	text, err := stringValue(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	t, err := ParseTime(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &t, nil
}

// Time returns a DateTime member, the zero time when absent or null.
func (o *Object) Time(name string) (time.Time, error) {
	p, err := o.NullableTime(name)
	if p == nil || err != nil {
		return time.Time{}, err
	}
	return *p, nil
}

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02",
}

// ParseTime parses an ISO-8601 date-time as .NET writes them: 0–7 (or more)
// fraction digits, with Z, with a numeric offset, or with no zone (taken as
// UTC). The result is in UTC, truncated to .NET's 100 ns precision.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC().Truncate(100 * time.Nanosecond), nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid date-time %.40q", s)
}
