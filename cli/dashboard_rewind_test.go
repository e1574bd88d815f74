package cli

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
)

// Careless use: a double click on the confirmed Rewind sends it twice at
// once. Both answer as they would one after the other (the instance
// rewound, or a conflict naming its status), never with a 502 from the
// history rows the other one rewrote.
func TestDashboardDoubleRewind(t *testing.T) {
	e := newHubEnv(t, false)
	dash := startDashboardServe(t, e.args...)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if _, err := e.c.ScheduleNew(ctx, "DashFail", "x", client.WithInstanceID("twice")); err != nil {
		t.Fatal(err)
	}
	_, page, _ := dashDo(t, "GET", dash+"instance?id=twice", nil)
	m := dashCSRF.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no token on the instance page")
	}
	form := url.Values{"csrf": {m[1]}, "id": {"twice"}, "op": {"rewind"}, "confirm": {"yes"}}
	for round := 0; round < 3; round++ {
		if st, err := e.c.WaitForCompletion(ctx, "twice"); err != nil || st.Status != client.Failed {
			t.Fatalf("%+v %v", st, err)
		}
		var wg sync.WaitGroup
		codes := make([]int, 3)
		bodies := make([]string, 3)
		for i := range codes {
			wg.Add(1)
			go func() { defer wg.Done(); codes[i], bodies[i], _ = dashDo(t, "POST", dash+"action", form) }()
		}
		wg.Wait()
		for i, c := range codes {
			if c != http.StatusSeeOther && c != http.StatusConflict {
				t.Fatalf("round %d: %d %s", round, c, bodies[i])
			}
		}
	}
}
