package cli

import (
	"strings"
	"sync"
	"testing"

	"github.com/azdurable/azdurable/internal/sidecar"
)

// captureSidecarOptions records the options of every sidecar server the
// command makes until the test ends.
func captureSidecarOptions(t *testing.T) func() []sidecar.Options {
	t.Helper()
	var mu sync.Mutex
	var got []sidecar.Options
	prev := newSidecarServer
	newSidecarServer = func(o sidecar.Options) (*sidecar.Server, error) {
		mu.Lock()
		got = append(got, o)
		mu.Unlock()
		return prev(o)
	}
	t.Cleanup(func() { newSidecarServer = prev })
	return func() []sidecar.Options {
		mu.Lock()
		defer mu.Unlock()
		return append([]sidecar.Options(nil), got...)
	}
}

// --max-entities-per-worker reaches the server; without it the server's
// default (the orchestration limit) applies.
func TestSidecarMaxEntitiesPerWorker(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"default", nil, 0},
		{"set", []string{"--max-entities-per-worker", "3"}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := captureSidecarOptions(t)
			startSidecar(t, append([]string{"--memory", "--task-hub", "SidecarLimits"}, tc.args...)...)
			opts := got()
			if len(opts) != 1 || opts[0].MaxEntitiesPerWorker != tc.want || opts[0].MaxOrchestrationsPerWorker != sidecar.DefaultMaxOrchestrationsPerWorker {
				t.Errorf("server options %+v, want MaxEntitiesPerWorker %d", opts, tc.want)
			}
		})
	}
}

// A negative --max-entities-per-worker is a usage error, refused before
// anything starts.
func TestSidecarMaxEntitiesPerWorkerRefusesNegative(t *testing.T) {
	got := captureSidecarOptions(t)
	code, _, errOut := run(t, "", "sidecar", "--memory", "--task-hub", "H", "--max-entities-per-worker", "-1")
	if code != 2 || !strings.Contains(errOut, "--max-entities-per-worker") {
		t.Errorf("exit %d, %s", code, errOut)
	}
	if opts := got(); len(opts) != 0 {
		t.Errorf("a server was made: %+v", opts)
	}
}
