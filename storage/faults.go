package storage

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// Fault is a kind of injected storage failure.
type Fault int

const (
	// Fault500 answers 500 Internal Server Error without sending the request.
	Fault500 Fault = iota
	// Fault503 answers 503 Server Busy without sending the request.
	Fault503
	// FaultTimeout fails with a network timeout without sending.
	FaultTimeout
	// FaultReset fails with a connection reset without sending.
	FaultReset
	// Fault500AfterWrite sends the request, so the service applies it, and
	// then answers 500 as if the response had been lost.
	Fault500AfterWrite
	// FaultResetAfterWrite sends the request and then fails with a
	// connection reset.
	FaultResetAfterWrite
)

func (f Fault) String() string {
	return [...]string{"500", "503", "timeout", "reset", "500-after-write", "reset-after-write"}[f]
}

// AllFaults lists every fault kind.
var AllFaults = []Fault{Fault500, Fault503, FaultTimeout, FaultReset, Fault500AfterWrite, FaultResetAfterWrite}

// FaultInjector fails a configurable share of storage calls. Add its Policy
// to ClientOptions.PerRetryPolicies so that the SDK's retry policy sees the
// failures as it would see real ones.
type FaultInjector struct {
	mu    sync.Mutex
	rnd   *rand.Rand
	rate  float64
	kinds []Fault
	match func(*http.Request) bool
	count map[Fault]int64
	calls int64
}

// NewFaultInjector fails each call with probability rate, choosing uniformly
// among kinds (all kinds when empty), reproducibly for a seed.
func NewFaultInjector(rate float64, seed uint64, kinds ...Fault) *FaultInjector {
	if len(kinds) == 0 {
		kinds = AllFaults
	}
	return &FaultInjector{rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), rate: rate, kinds: kinds, count: map[Fault]int64{}}
}

// Only restricts injection to requests for which match returns true.
func (f *FaultInjector) Only(match func(*http.Request) bool) *FaultInjector {
	f.mu.Lock()
	f.match = match
	f.mu.Unlock()
	return f
}

// SetRate changes the failure probability (0 turns injection off).
func (f *FaultInjector) SetRate(rate float64) {
	f.mu.Lock()
	f.rate = rate
	f.mu.Unlock()
}

// Injected returns how many faults of each kind were injected.
func (f *FaultInjector) Injected() map[Fault]int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[Fault]int64{}
	for k, v := range f.count {
		out[k] = v
	}
	return out
}

// Policy returns the pipeline policy.
func (f *FaultInjector) Policy() policy.Policy { return faultPolicy{f} }

type faultPolicy struct{ f *FaultInjector }

func (p faultPolicy) pick(r *http.Request) (Fault, bool) {
	f := p.f
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.rate <= 0 || (f.match != nil && !f.match(r)) || f.rnd.Float64() >= f.rate {
		return 0, false
	}
	k := f.kinds[f.rnd.IntN(len(f.kinds))]
	f.count[k]++
	return k, true
}

// injectedTimeout looks like a client-side network timeout.
type injectedTimeout struct{}

func (injectedTimeout) Error() string   { return "injected fault: i/o timeout" }
func (injectedTimeout) Timeout() bool   { return true }
func (injectedTimeout) Temporary() bool { return true }

func (p faultPolicy) Do(req *policy.Request) (*http.Response, error) {
	kind, ok := p.pick(req.Raw())
	if !ok {
		return req.Next()
	}
	switch kind {
	case Fault500, Fault503:
		return synthetic(req.Raw(), kind), nil
	case FaultTimeout:
		return nil, &net.OpError{Op: "read", Net: "tcp", Err: injectedTimeout{}}
	case FaultReset:
		return nil, &net.OpError{Op: "read", Net: "tcp", Err: fmt.Errorf("injected fault: %w", syscall.ECONNRESET)}
	}
	resp, err := req.Next()
	if err != nil {
		return resp, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if kind == Fault500AfterWrite {
		return synthetic(req.Raw(), Fault500), nil
	}
	return nil, &net.OpError{Op: "read", Net: "tcp", Err: fmt.Errorf("injected fault after the write: %w", syscall.ECONNRESET)}
}

func synthetic(r *http.Request, kind Fault) *http.Response {
	status, code := http.StatusInternalServerError, "InternalError"
	if kind == Fault503 {
		status, code = http.StatusServiceUnavailable, "ServerBusy"
	}
	body := fmt.Sprintf(`<?xml version="1.0" encoding="utf-8"?><Error><Code>%s</Code><Message>injected fault</Message></Error>`, code)
	h := http.Header{}
	h.Set("x-ms-error-code", code)
	h.Set("Content-Type", "application/xml")
	if strings.Contains(r.URL.Path, "/$batch") || strings.Contains(r.Header.Get("Accept"), "json") {
		body = fmt.Sprintf(`{"odata.error":{"code":"%s","message":{"lang":"en-US","value":"injected fault"}}}`, code)
		h.Set("Content-Type", "application/json")
	}
	return &http.Response{StatusCode: status, Status: http.StatusText(status), Header: h, Request: r,
		Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body))}
}

// IsInjected reports whether err came from a FaultInjector.
func IsInjected(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "injected fault") || errors.Is(err, injectedTimeout{}))
}
