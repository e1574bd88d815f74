// Package payload turns the values of orchestrations, activities, events
// and custom statuses into the text that travels in messages and history,
// and back, with a converter that the worker or client running them was
// given (durable.DataConverter has the same methods as Converter; the
// default is JSON).
//
// Activity inputs are written in C#'s parameter-array form ([x]) and read
// from any peer's form: see EncodeActivityInput and DecodeActivityInput.
// The functions take the converter as an argument: no converter is kept
// for the process.
package payload

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Converter turns payloads into text and back.
type Converter interface {
	Marshal(v any) (string, error)
	Unmarshal(data string, v any) error
}

// JSON is the default converter: encoding/json, compact, without HTML
// escaping, as C#'s Newtonsoft writes.
type JSON struct{}

// Marshal encodes v as compact JSON without HTML escaping.
func (JSON) Marshal(v any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// Unmarshal decodes JSON text into v.
func (JSON) Unmarshal(data string, v any) error {
	return json.Unmarshal([]byte(data), v)
}

// Or returns c, or JSON when c is nil.
func Or(c Converter) Converter {
	if c == nil {
		return JSON{}
	}
	return c
}

// Marshal encodes v as stored text.
func Marshal(c Converter, v any) (*string, error) {
	s, err := c.Marshal(v)
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// Unmarshal decodes a payload into T; a nil or empty payload gives T's
// zero value.
func Unmarshal[T any](c Converter, p *string) (T, error) {
	var v T
	if p == nil || *p == "" {
		return v, nil
	}
	err := c.Unmarshal(*p, &v)
	return v, err
}

// EncodeActivityInput writes an activity input in C#'s parameter-array
// form: [x] for an input x, and [] for an input of type struct{} (no
// parameters).
func EncodeActivityInput(c Converter, in any) (*string, error) {
	if _, none := in.(struct{}); none {
		s := "[]"
		return &s, nil
	}
	s, err := c.Marshal(in)
	if err != nil {
		return nil, err
	}
	s = "[" + s + "]"
	return &s, nil
}

// DecodeActivityInput reads an activity input written by any peer: when
// the payload is a JSON array of exactly one element (C#'s parameter
// array), that element is decoded; if that fails, or the payload is
// anything else, the whole payload is decoded.
func DecodeActivityInput[T any](c Converter, p *string) (T, error) {
	var zero T
	if p == nil || strings.TrimSpace(*p) == "" {
		return zero, nil
	}
	var elems []json.RawMessage
	if err := json.Unmarshal([]byte(*p), &elems); err == nil {
		if len(elems) == 1 {
			var v T
			if err := c.Unmarshal(string(elems[0]), &v); err == nil {
				return v, nil
			}
		}
		if len(elems) == 0 {
			if _, none := any(zero).(struct{}); none {
				return zero, nil
			}
		}
	}
	return Unmarshal[T](c, p)
}
