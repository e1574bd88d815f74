package tables

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/azdurable/azdurable/internal/netjson"
)

// GUID is a property value of EDM type Edm.Guid, held in its text form. No
// column of this backend uses it; it exists so that an entity read with such
// a column is written back with the same type.
type GUID string

// Property is one named column of an entity. Value is one of string, int32,
// int64, bool, time.Time (Edm.DateTime, stored in UTC), float64, []byte
// (Edm.Binary) or GUID. A nil Value is a null: the slot keeps its position
// (as a C# dictionary entry set to null does) but nothing is written.
type Property struct {
	Name  string
	Value any
}

// Entity is one table entity with its properties in wire order.
//
// PartitionKey and RowKey are not in Properties; they are written just
// before Properties[KeyIndex] (KeyIndex 0 puts them first, KeyIndex >=
// len(Properties) puts them last). History rows use this to place the keys
// where C# puts them, between EventType and ExecutionId.
//
// ETag and Timestamp are maintained by the service. UnmarshalEntity fills
// them in; MarshalEntity never writes them.
type Entity struct {
	PartitionKey string
	RowKey       string
	KeyIndex     int
	Properties   []Property

	// ETag is the entity's "odata.etag" as the service returned it, for
	// If-Match on a later write; "" when unknown.
	ETag string
	// Timestamp is the service's last-modified time; zero when unknown.
	Timestamp time.Time
}

// lookup returns the index of the named property, or -1.
func (e *Entity) lookup(name string) int {
	for i := range e.Properties {
		if e.Properties[i].Name == name {
			return i
		}
	}
	return -1
}

// Get returns the value of the named property and whether the entity has it.
// A property set to nil reports (nil, true). Names are case-sensitive, as
// the Table service treats them.
func (e *Entity) Get(name string) (any, bool) {
	if i := e.lookup(name); i >= 0 {
		return e.Properties[i].Value, true
	}
	return nil, false
}

// GetString returns the named property if it holds a string.
func (e *Entity) GetString(name string) (string, bool) {
	v, _ := e.Get(name)
	s, ok := v.(string)
	return s, ok
}

// Set gives the named property a value. An existing property keeps its
// position and a new one is appended, so a sequence of Sets produces the
// column order of the equivalent C# dictionary assignments. Set with nil
// marks the property null (kept in place, never written).
func (e *Entity) Set(name string, v any) {
	if i := e.lookup(name); i >= 0 {
		e.Properties[i].Value = v
		return
	}
	e.Properties = append(e.Properties, Property{Name: name, Value: v})
}

// Delete removes the named property, keeping the order of the others.
func (e *Entity) Delete(name string) {
	i := e.lookup(name)
	if i < 0 {
		return
	}
	e.Properties = append(e.Properties[:i], e.Properties[i+1:]...)
	if e.KeyIndex > i {
		e.KeyIndex--
	}
}

// EDM type names used in "@odata.type" annotations.
const (
	edmString   = "Edm.String"
	edmInt32    = "Edm.Int32"
	edmInt64    = "Edm.Int64"
	edmBoolean  = "Edm.Boolean"
	edmDateTime = "Edm.DateTime"
	edmDouble   = "Edm.Double"
	edmBinary   = "Edm.Binary"
	edmGuid     = "Edm.Guid"

	annotationSuffix = "@odata.type"
)

// reservedName reports whether a name may not be used for an ordinary
// property: the keys, the service timestamp and OData metadata.
func reservedName(name string) bool {
	return name == "PartitionKey" || name == "RowKey" || name == "Timestamp" ||
		strings.HasPrefix(name, "odata.") || strings.Contains(name, "@")
}

// MarshalEntity encodes e as the JSON body of a Table service write, with
// the properties in the order of e.Properties and the keys at e.KeyIndex.
// Null properties are left out. DateTime values are written with seven
// fraction digits and "Z", each followed by its Edm.DateTime annotation, as
// the C# client does; Int64, Double, Binary and Guid values get their
// annotations too, and strings, Int32 and Boolean values need none.
func MarshalEntity(e *Entity) ([]byte, error) {
	w := netjson.NewWriter(make([]byte, 0, 256))
	w.BeginObject()
	keysAt := max(e.KeyIndex, 0)
	keysDone := false
	writeKeys := func() {
		w.Key("PartitionKey")
		w.String(e.PartitionKey)
		w.Key("RowKey")
		w.String(e.RowKey)
		keysDone = true
	}
	seen := make(map[string]bool, len(e.Properties))
	for i, p := range e.Properties {
		if i == keysAt {
			writeKeys()
		}
		if p.Name == "" || reservedName(p.Name) {
			return nil, fmt.Errorf("tables: property name %q is reserved or empty", p.Name)
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("tables: duplicate property %q", p.Name)
		}
		seen[p.Name] = true
		if err := writeValue(w, p.Name, p.Value); err != nil {
			return nil, err
		}
	}
	if !keysDone {
		writeKeys()
	}
	w.EndObject()
	return w.Bytes(), nil
}

func writeValue(w *netjson.Writer, name string, v any) error {
	annotate := func(edm string) {
		w.Key(name + annotationSuffix)
		w.String(edm)
	}
	switch v := v.(type) {
	case nil:
	case string:
		w.Key(name)
		w.String(v)
	case int32:
		w.Key(name)
		w.Int(int64(v))
	case bool:
		w.Key(name)
		w.Bool(v)
	case time.Time:
		if !dateTimeInRange(v) {
			return fmt.Errorf("tables: property %q: %w", name, errDateTimeRange)
		}
		w.Key(name)
		w.String(netjson.FormatTime7(v))
		annotate(edmDateTime)
	case int64:
		w.Key(name)
		w.String(strconv.FormatInt(v, 10))
		annotate(edmInt64)
	case float64:
		w.Key(name)
		switch {
		case math.IsNaN(v):
			w.String("NaN")
		case math.IsInf(v, 1):
			w.String("Infinity")
		case math.IsInf(v, -1):
			w.String("-Infinity")
		default:
			w.Raw(strconv.AppendFloat(nil, v, 'g', -1, 64))
		}
		annotate(edmDouble)
	case []byte:
		if v == nil {
			return nil
		}
		w.Key(name)
		w.String(base64.StdEncoding.EncodeToString(v))
		annotate(edmBinary)
	case GUID:
		w.Key(name)
		w.String(string(v))
		annotate(edmGuid)
	default:
		return fmt.Errorf("tables: property %q has unsupported type %T", name, v)
	}
	return nil
}

// UnmarshalEntity decodes one entity as the Table service returns it (the
// JSON that aztables ListEntities and GetEntity hand out). Type annotations
// may come before or after their values; "odata.etag" fills ETag and
// "Timestamp" fills Timestamp; other "odata.*" members and annotations are
// ignored. Every other column is kept, in document order. JSON nulls are
// dropped. A number without annotation is Int32 when it is integral and in
// range, otherwise Double, as the service infers.
func UnmarshalEntity(data []byte) (*Entity, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("tables: invalid entity JSON: %w", err)
	} else if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("tables: entity JSON is not an object")
	}
	type member struct {
		name string
		raw  json.RawMessage
	}
	var members []member
	index := map[string]int{}
	annotations := map[string]string{}
	e := &Entity{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("tables: invalid entity JSON: %w", err)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, errors.New("tables: invalid entity JSON: member name is not a string")
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("tables: invalid JSON in member %q: %w", name, err)
		}
		switch {
		case name == "odata.etag":
			if err := json.Unmarshal(raw, &e.ETag); err != nil {
				return nil, fmt.Errorf("tables: odata.etag: %w", err)
			}
		case strings.HasPrefix(name, "odata."):
		case strings.HasSuffix(name, annotationSuffix):
			var edm string
			if err := json.Unmarshal(raw, &edm); err != nil {
				return nil, fmt.Errorf("tables: %s: %w", name, err)
			}
			annotations[strings.TrimSuffix(name, annotationSuffix)] = edm
		case strings.Contains(name, "@"):
			// other instance annotations carry nothing we need
		default:
			if i, dup := index[name]; dup {
				members[i].raw = raw // the last value wins, in the first position
				continue
			}
			index[name] = len(members)
			members = append(members, member{name, raw})
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("tables: invalid entity JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("tables: invalid entity JSON: data after the object")
	}
	keyIndex := -1
	for _, m := range members {
		switch m.name {
		case "PartitionKey", "RowKey", "Timestamp":
			if m.name != "Timestamp" && keyIndex < 0 {
				keyIndex = len(e.Properties)
			}
			if netjson.IsNull(m.raw) {
				continue
			}
			var s string
			if err := json.Unmarshal(m.raw, &s); err != nil {
				return nil, fmt.Errorf("tables: %s is not a string", m.name)
			}
			switch m.name {
			case "PartitionKey":
				e.PartitionKey = s
			case "RowKey":
				e.RowKey = s
			default:
				t, err := netjson.ParseTime(s)
				if err != nil {
					return nil, fmt.Errorf("tables: Timestamp: %w", err)
				}
				e.Timestamp = t
			}
			continue
		}
		v, err := decodeValue(m.raw, annotations[m.name])
		if err != nil {
			return nil, fmt.Errorf("tables: property %q: %w", m.name, err)
		}
		if v != nil {
			e.Properties = append(e.Properties, Property{Name: m.name, Value: v})
		}
	}
	e.KeyIndex = max(keyIndex, 0)
	return e, nil
}

// Edm.DateTime covers .NET's DateTime range: years 1 to 9999.
var (
	minDateTime      = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxDateTime      = time.Date(9999, 12, 31, 23, 59, 59, 999999900, time.UTC)
	errDateTimeRange = errors.New("date-time outside the Edm.DateTime range (years 1 to 9999)")
)

func dateTimeInRange(t time.Time) bool {
	t = t.UTC().Truncate(100 * time.Nanosecond)
	return !t.Before(minDateTime) && !t.After(maxDateTime)
}

// parseDateTime reads an Edm.DateTime value: ISO-8601 with 0 to 7 (or more)
// fraction digits, in UTC, within the .NET range.
func parseDateTime(s string) (time.Time, error) {
	t, err := netjson.ParseTime(s)
	if err != nil {
		return time.Time{}, err
	}
	if !dateTimeInRange(t) {
		return time.Time{}, errDateTimeRange
	}
	return t, nil
}

// decodeValue converts one JSON value with its (possibly empty) annotation.
// It returns nil for JSON null.
func decodeValue(raw json.RawMessage, edm string) (any, error) {
	raw = bytes.TrimSpace(raw)
	if netjson.IsNull(raw) {
		return nil, nil
	}
	var x any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&x); err != nil {
		return nil, err
	}
	str := func() (string, error) {
		s, ok := x.(string)
		if !ok {
			return "", fmt.Errorf("%s value is not a JSON string", edm)
		}
		return s, nil
	}
	switch edm {
	case "":
		switch v := x.(type) {
		case string:
			return v, nil
		case bool:
			return v, nil
		case json.Number:
			if n, err := strconv.ParseInt(v.String(), 10, 32); err == nil {
				return int32(n), nil
			}
			f, err := v.Float64()
			if err != nil {
				return nil, err
			}
			return f, nil
		default:
			return nil, errors.New("objects and arrays are not table values")
		}
	case edmString:
		return str()
	case edmDateTime:
		s, err := str()
		if err != nil {
			return nil, err
		}
		return parseDateTime(s)
	case edmInt64:
		var text string
		switch v := x.(type) {
		case string:
			text = v
		case json.Number:
			text = v.String()
		default:
			return nil, errors.New("Edm.Int64 value is neither a string nor a number")
		}
		return strconv.ParseInt(strings.TrimSpace(text), 10, 64)
	case edmInt32:
		n, ok := x.(json.Number)
		if !ok {
			return nil, errors.New("Edm.Int32 value is not a number")
		}
		v, err := strconv.ParseInt(n.String(), 10, 32)
		if err != nil {
			return nil, err
		}
		return int32(v), nil
	case edmBoolean:
		b, ok := x.(bool)
		if !ok {
			return nil, errors.New("Edm.Boolean value is not a boolean")
		}
		return b, nil
	case edmDouble:
		switch v := x.(type) {
		case json.Number:
			return v.Float64()
		case string:
			switch v {
			case "NaN":
				return math.NaN(), nil
			case "Infinity", "INF":
				return math.Inf(1), nil
			case "-Infinity", "-INF":
				return math.Inf(-1), nil
			}
			return strconv.ParseFloat(v, 64)
		}
		return nil, errors.New("Edm.Double value is neither a number nor a string")
	case edmBinary:
		s, err := str()
		if err != nil {
			return nil, err
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, err
		}
		if b == nil {
			b = []byte{}
		}
		return b, nil
	case edmGuid:
		s, err := str()
		if err != nil {
			return nil, err
		}
		return GUID(s), nil
	}
	return nil, fmt.Errorf("unknown EDM type %.40q", edm)
}
