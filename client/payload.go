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

// encodePayload turns an input or event payload into the stored text.
func (c *Client) encodePayload(v any) (string, error) {
	if raw, ok := v.(RawJSON); ok {
		if !json.Valid([]byte(raw)) {
			return "", errors.New("client: RawJSON is not JSON text")
		}
		return string(raw), nil
	}
	return c.conv.Marshal(v)
}
