package client_test

import (
	"errors"
	"testing"

	"github.com/azdurable/azdurable/client"
)

// A caller's traceparent that is not W3C's is refused before anything is
// stored.
func TestStartRefusesMalformedTraceParent(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := e.Context()
	defer cancel()
	for _, tp := range []string{"", "00-a-b-01", "00-00000000000000000000000000000000-b7ad6b7169203331-01",
		"ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x"} {
		_, err := e.Client.ScheduleNew(ctx, "Wait", "x", client.WithInstanceID("tp"), client.WithTraceParent(tp))
		if !errors.Is(err, client.ErrInvalid) {
			t.Errorf("%q: %v, want ErrInvalid", tp, err)
		}
	}
	if _, err := e.Client.GetState(ctx, "tp"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("an instance was stored: %v", err)
	}
	if !client.ValidTraceParent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01") ||
		!client.ValidTraceParent("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-future") {
		t.Error("a valid traceparent is refused")
	}
}
