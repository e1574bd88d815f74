package client_test

import (
	"context"
	"errors"
	"testing"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/provider/memory"
)

// noRewind is a backend without the rewind contract.
type noRewind struct{ provider.Backend }

func TestRewindNeedsABackendThatCanRewind(t *testing.T) {
	c := client.New(noRewind{memory.New(memory.Options{})}, client.Options{})
	if err := c.Rewind(context.Background(), "x", ""); !errors.Is(err, client.ErrRewindNotSupported) {
		t.Errorf("rewind on a backend without RewindBackend: %v", err)
	}
}

func TestRewindAndRestartValidateIDs(t *testing.T) {
	c := client.New(memory.New(memory.Options{}), client.Options{})
	ctx := context.Background()
	if err := c.Rewind(ctx, "", ""); err == nil {
		t.Error("rewind of an empty id succeeded")
	}
	if _, err := c.Restart(ctx, ""); err == nil {
		t.Error("restart of an empty id succeeded")
	}
	if _, err := c.ScheduleNew(ctx, "O", nil, client.WithInstanceID("a")); err != nil {
		t.Fatal(err)
	}
	long := make([]byte, 1025)
	for i := range long {
		long[i] = 'x'
	}
	if _, err := c.Restart(ctx, "a", client.WithNewInstanceID(string(long))); err == nil || errors.Is(err, client.ErrInstanceExists) {
		t.Errorf("restart under an id that is too long: %v", err)
	}
	// A Pending instance is neither rewound nor restarted in place.
	var se *client.StatusError
	if err := c.Rewind(ctx, "a", ""); !errors.As(err, &se) || se.Status != client.Pending || !errors.Is(err, client.ErrNotFailed) {
		t.Errorf("rewind of a pending instance: %v", err)
	}
	if _, err := c.Restart(ctx, "a"); !errors.As(err, &se) || se.Status != client.Pending || !errors.Is(err, client.ErrInstanceExists) {
		t.Errorf("restart of a pending instance: %v", err)
	}
	if _, err := c.Restart(ctx, "nosuch"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("restart of an unknown id: %v", err)
	}
}
