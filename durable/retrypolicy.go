package durable

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// RetryPolicyError reports a RetryPolicy that cannot be used. A call made
// WithRetry of such a policy schedules nothing: its future fails at once
// with this error, which is marked non-retriable, so an orchestration that
// returns it fails with a message that names the fields at fault.
type RetryPolicyError struct {
	// Call is the activity or sub-orchestration called with the policy
	// ("" from Validate).
	Call string
	// Fields are the RetryPolicy fields at fault, e.g.
	// "FirstRetryInterval", in the order Validate checks them.
	Fields []string
	// Problems say what is wrong with each, in the same order.
	Problems []string
}

func (e *RetryPolicyError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f + " " + e.Problems[i]
	}
	what := "RetryPolicy"
	if e.Call != "" {
		what += fmt.Sprintf(" for %q", e.Call)
	}
	return "durable: invalid " + what + ": " + strings.Join(parts, "; ")
}

// NonRetriable reports true: a policy does not become valid by retrying.
func (e *RetryPolicyError) NonRetriable() bool { return true }

// Validate checks the policy the way C#'s RetryOptions and the portable
// Durable Task SDKs' RetryPolicy do, and returns a *RetryPolicyError naming
// every field at fault, or nil:
//
//   - FirstRetryInterval must be positive (C# refuses zero and negative
//     intervals);
//   - MaxAttempts must be at least 1 (the zero value is an error; a policy
//     without a practical limit is MaxAttempts: math.MaxInt, usually with a
//     RetryTimeout);
//   - BackoffCoefficient must be at least 1; zero means the default, 1 (a
//     constant interval), as in C#;
//   - MaxRetryInterval must not be negative and, when set, not shorter than
//     FirstRetryInterval; zero means no cap (C#'s TimeSpan.MaxValue);
//   - RetryTimeout must not be negative; zero means no limit (C#'s
//     TimeSpan.MaxValue).
//
// The zero RetryPolicy{} is therefore invalid (FirstRetryInterval and
// MaxAttempts).
func (p RetryPolicy) Validate() error {
	if e := p.check(); e != nil {
		return e
	}
	return nil
}

func (p RetryPolicy) check() *RetryPolicyError {
	e := &RetryPolicyError{}
	bad := func(field, format string, args ...any) {
		e.Fields = append(e.Fields, field)
		e.Problems = append(e.Problems, fmt.Sprintf(format, args...))
	}
	if p.FirstRetryInterval <= 0 {
		bad("FirstRetryInterval", "is %v; it must be positive", p.FirstRetryInterval)
	}
	if p.MaxAttempts < 1 {
		bad("MaxAttempts", "is %d; it must be at least 1", p.MaxAttempts)
	}
	if math.IsNaN(p.BackoffCoefficient) || (p.BackoffCoefficient != 0 && p.BackoffCoefficient < 1) {
		bad("BackoffCoefficient", "is %v; it must be at least 1 (0 means 1)", p.BackoffCoefficient)
	}
	switch {
	case p.MaxRetryInterval < 0:
		bad("MaxRetryInterval", "is %v; it must not be negative (0 means no cap)", p.MaxRetryInterval)
	case p.MaxRetryInterval > 0 && p.FirstRetryInterval > 0 && p.MaxRetryInterval < p.FirstRetryInterval:
		bad("MaxRetryInterval", "is %v, shorter than FirstRetryInterval %v", p.MaxRetryInterval, p.FirstRetryInterval)
	}
	if p.RetryTimeout < 0 {
		bad("RetryTimeout", "is %v; it must not be negative (0 means no limit)", p.RetryTimeout)
	}
	if len(e.Fields) == 0 {
		return nil
	}
	return e
}

// delay is the wait before attempt+1, after attempt failed (attempt ≥ 1),
// for a policy that passed Validate.
func (p RetryPolicy) delay(attempt int) time.Duration {
	coeff := p.BackoffCoefficient
	if coeff == 0 {
		coeff = 1
	}
	d := float64(p.FirstRetryInterval) * math.Pow(coeff, float64(attempt-1))
	if p.MaxRetryInterval > 0 && d > float64(p.MaxRetryInterval) {
		d = float64(p.MaxRetryInterval)
	}
	if d > float64(math.MaxInt64) {
		d = float64(math.MaxInt64)
	}
	return time.Duration(d)
}
