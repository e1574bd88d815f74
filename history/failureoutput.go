package history

// FailureOutput is the Output of an execution that ended with this
// completion (Result and FailureDetails of its ExecutionCompleted event), in
// every backend's status row: the Result when there is one, else
// "<ErrorType>: <ErrorMessage>" of the failure details (nil when there is
// neither). It is the one rule for a failed orchestration's output; the
// Azure Storage backend writes it into the Instances row and the in-memory
// backend into its status row, through one status transition
// (internal/episode/rules, Checkpoint and Repair).
//
// Why this rule. A C# worker in its default error mode (the reference
// program's Uncaught: Result "card declined: order-2", FailureDetails null)
// leaves Output = the bare failure message, and that is what C# readers
// and our conformance cases expect. C#'s table store computes
// FailureDetails?.ToString() ?? Result, which gives the same text for every
// event a C# worker writes in that mode; a Go worker writes the Result and
// the details, and applying C#'s formula literally would show the Go type
// ("*errors.errorString: it broke"), so the Result comes first. The details
// stay in the History (the ExecutionCompleted event), which is where C#
// keeps them too: the status row holds no failure details (see
// rules.Checkpoint).
func FailureOutput(result *string, fd *FailureDetails) *string {
	if result == nil && fd != nil {
		s := fd.ErrorType + ": " + fd.ErrorMessage
		return &s
	}
	return result
}
