package registry

import "context"

// ActivityInfo describes a running activity invocation; the worker puts it
// in the activity's context and durable.ActivityInfoFrom reads it back (as
// durable.ActivityInfo, which has the same fields).
type ActivityInfo struct {
	InstanceID  string
	ExecutionID string
	Name        string
	Version     string
	TaskID      int32
	Attempt     int
	TraceParent string
}

type activityInfoKey struct{}

// WithActivityInfo returns a context carrying info.
func WithActivityInfo(ctx context.Context, info ActivityInfo) context.Context {
	return context.WithValue(ctx, activityInfoKey{}, info)
}

// ActivityInfoFrom returns the info of the activity running with ctx.
func ActivityInfoFrom(ctx context.Context) (ActivityInfo, bool) {
	info, ok := ctx.Value(activityInfoKey{}).(ActivityInfo)
	return info, ok
}
