package entity

import "github.com/azdurable/azdurable/internal/netjson"

// NewFailure is an operation's failure with its type and message: the
// payload is a serialized exception whose Message is the message, the
// member the extension's callers read.
func NewFailure(typ, message string) *Failure {
	return &Failure{Type: typ, Payload: `{"Message":` + string(netjson.AppendString(nil, message)) + `}`}
}

// FailureMessage is the message of a failed operation's response: the
// Message of the serialized exception, or the whole result when it has
// none.
func (r *Response) FailureMessage() string {
	if r.Result == nil {
		return ""
	}
	if o, err := netjson.ParseObject([]byte(*r.Result)); err == nil {
		if m, err := o.String("Message"); err == nil && m != "" {
			return m
		}
	}
	return *r.Result
}
