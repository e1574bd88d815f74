package client

// OperationOption adjusts Terminate, Suspend and Resume.
type OperationOption func(*operation)

// TerminateOption is an OperationOption, the name Terminate's options had
// first.
type TerminateOption = OperationOption

type operation struct {
	recursive bool
	noReason  bool
}

func operationOpts(opts []OperationOption) operation {
	var o operation
	for _, f := range opts {
		f(&o)
	}
	return o
}

// reason is the reason to send: none (null) with WithoutReason, else the
// text as given, "" included.
func (o operation) reason(text string) *string {
	if o.noReason {
		return nil
	}
	return &text
}

// Recursive makes Terminate also terminate the instance's running
// sub-orchestrations. Suspend and Resume ignore it.
func Recursive() OperationOption { return func(o *operation) { o.recursive = true } }

// WithoutReason sends the operation with no reason at all, and the reason
// argument is ignored: the instance then stores null where a reason would
// be (a terminated instance's output, the events' Reason or Input), as
// when a C# client or the Durable Functions HTTP API is given none. An
// empty reason without this option is stored as "", as C# stores it.
func WithoutReason() OperationOption { return func(o *operation) { o.noReason = true } }
