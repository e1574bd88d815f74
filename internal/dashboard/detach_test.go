package dashboard_test

import (
	"context"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/dashboard"
	"github.com/azdurable/azdurable/provider/memory"
)

// hangingUp is the in-memory backend, with a hook that runs after each
// message sent: there, the test's browser goes away.
type hangingUp struct {
	*memory.Backend
	afterSend func()
}

func (b *hangingUp) SendMessages(ctx context.Context, msgs ...*history.TaskMessage) error {
	err := b.Backend.SendMessages(ctx, msgs...)
	b.afterSend()
	return err
}

// Careless use: the browser leaves (a closed tab, a second click) while a
// confirmed bulk terminate runs. The request's context ended with the
// connection, and every instance after the first was left running. A
// confirmed action finishes.
func TestBrowserLeavesDuringBulk(t *testing.T) {
	e := newEnv(t, dashboard.Options{})
	ids := []string{"bulk-1", "bulk-2", "bulk-3"}
	for _, id := range ids {
		e.start("Wait", id, "x")
		if _, err := e.c.WaitForStart(e.ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	reqCtx, hangUp := context.WithCancel(context.Background())
	defer hangUp()
	c := client.New(&hangingUp{Backend: e.be, afterSend: hangUp}, client.Options{})
	d, err := dashboard.New(dashboard.Options{Client: c, TaskHub: "MemHub"})
	if err != nil {
		t.Fatal(err)
	}
	// The token of this handler, read from its own page.
	page := httptest.NewRecorder()
	get := httptest.NewRequest("GET", "/dashboard/instance?id=bulk-1", nil)
	get.RemoteAddr = "127.0.0.1:1"
	d.ServeHTTP(page, get)
	m := csrfRE.FindStringSubmatch(page.Body.String())
	if m == nil {
		t.Fatal("no token")
	}
	form := url.Values{"csrf": {m[1]}, "id": ids, "op": {"terminate"}, "confirm": {"yes"}}
	req := httptest.NewRequestWithContext(reqCtx, "POST", "/dashboard/bulk", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = "127.0.0.1:1"
	d.ServeHTTP(httptest.NewRecorder(), req)
	if reqCtx.Err() == nil {
		t.Fatal("the browser did not leave")
	}
	for _, id := range ids {
		if st, err := e.c.WaitForCompletion(e.ctx, id); err != nil || st.Status != client.Terminated {
			t.Errorf("%s: %+v %v", id, st, err)
		}
	}
}
