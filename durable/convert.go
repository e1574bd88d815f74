package durable

import (
	"bytes"
	"encoding/json"
	"strings"
)

// DataConverter turns payloads into JSON text and back. The default uses
// encoding/json without HTML escaping, as C#'s Newtonsoft writes.
type DataConverter interface {
	Marshal(v any) (string, error)
	Unmarshal(data string, v any) error
}

// JSONConverter is the default DataConverter.
type JSONConverter struct{}

// Marshal encodes v as compact JSON without HTML escaping.
func (JSONConverter) Marshal(v any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// Unmarshal decodes JSON text into v.
func (JSONConverter) Unmarshal(data string, v any) error {
	return json.Unmarshal([]byte(data), v)
}

var converter DataConverter = JSONConverter{}

// SetDataConverter replaces the process-wide payload converter. Call it
// before starting workers and clients; every process sharing a task hub must
// use a compatible converter.
func SetDataConverter(c DataConverter) {
	if c == nil {
		c = JSONConverter{}
	}
	converter = c
}

// Converter returns the process-wide payload converter.
func Converter() DataConverter { return converter }

func marshalPayload(v any) (*string, error) {
	s, err := converter.Marshal(v)
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// unmarshalPayload decodes a payload into T; a nil payload gives T's zero.
func unmarshalPayload[T any](p *string) (T, error) {
	var v T
	if p == nil || *p == "" {
		return v, nil
	}
	err := converter.Unmarshal(*p, &v)
	return v, err
}

// EncodeActivityInput writes an activity input in C#'s parameter-array form:
// [x] for an input x, and [] for an input of type struct{} (no parameters).
func EncodeActivityInput(in any) (*string, error) {
	if _, none := in.(struct{}); none {
		s := "[]"
		return &s, nil
	}
	s, err := converter.Marshal(in)
	if err != nil {
		return nil, err
	}
	s = "[" + s + "]"
	return &s, nil
}

// DecodeActivityInput reads an activity input written by any peer: when the
// payload is a JSON array of exactly one element (C#'s parameter array), that
// element is decoded; if that fails, or the payload is anything else, the
// whole payload is decoded.
func DecodeActivityInput[T any](p *string) (T, error) {
	var zero T
	if p == nil || strings.TrimSpace(*p) == "" {
		return zero, nil
	}
	var elems []json.RawMessage
	if err := json.Unmarshal([]byte(*p), &elems); err == nil {
		if len(elems) == 1 {
			var v T
			if err := converter.Unmarshal(string(elems[0]), &v); err == nil {
				return v, nil
			}
		}
		if len(elems) == 0 {
			if _, none := any(zero).(struct{}); none {
				return zero, nil
			}
		}
	}
	return unmarshalPayload[T](p)
}
