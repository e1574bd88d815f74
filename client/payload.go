package client

import (
	"encoding/json"
	"errors"
)

// RawJSON is JSON text that ScheduleNew (as the input) and RaiseEvent (as
// the payload) store exactly as given, spaces and number spellings
// included, instead of encoding a Go value. C# stores an HTTP start
// body so; use it to pass on JSON text received from elsewhere.
type RawJSON string

// encodePayload turns an input or event payload into the stored text (nil
// for a Verbatim without text), with the client's DataConverter for Go
// values.
func (c *Client) encodePayload(v any) (*string, error) {
	switch p := v.(type) {
	case RawJSON:
		if !json.Valid([]byte(p)) {
			return nil, errors.New("client: RawJSON is not JSON text")
		}
		s := string(p)
		return &s, nil
	case Verbatim:
		return p.Text, nil
	}
	s, err := c.conv.Marshal(v)
	if err != nil {
		return nil, err
	}
	return &s, nil
}
