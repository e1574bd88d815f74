package durable

import "github.com/azdurable/azdurable/internal/payload"

// DataConverter turns payloads (inputs, outputs, event payloads, custom
// statuses) into the text that is stored and sent, and back. A worker and
// a client each have one (worker.Options.DataConverter,
// client.Options.DataConverter; the default is JSONConverter); the
// orchestrations and activities a worker runs use the worker's. Every
// process that shares a task hub must use compatible converters.
type DataConverter interface {
	Marshal(v any) (string, error)
	Unmarshal(data string, v any) error
}

// JSONConverter is the default DataConverter: encoding/json, compact,
// without HTML escaping, as C#'s Newtonsoft writes.
type JSONConverter struct{}

// Marshal encodes v as compact JSON without HTML escaping.
func (JSONConverter) Marshal(v any) (string, error) { return (payload.JSON{}).Marshal(v) }

// Unmarshal decodes JSON text into v.
func (JSONConverter) Unmarshal(data string, v any) error { return (payload.JSON{}).Unmarshal(data, v) }

// marshal encodes v with the converter of the worker that runs ctx.
func marshal(ctx Context, v any) (*string, error) { return payload.Marshal(ctx.converter(), v) }
