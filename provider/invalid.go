package provider

import "errors"

// ErrInvalid marks a request or an episode that no retry can make valid
// (an empty or oversized instance id, a key Azure refuses, a payload over a
// hard limit). It is detected before the first side effect, wrapped with the
// details (errors.Is(err, ErrInvalid)), and never retried as it is: a work
// item whose commit fails with it is quarantined, not run again.
var ErrInvalid = errors.New("provider: invalid")
