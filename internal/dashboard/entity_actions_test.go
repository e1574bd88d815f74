package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/dashboard"
)

// Careless use: the entities page links each entity to its instance page,
// which offered the orchestration actions. Terminating an entity's
// instance leaves it Terminated, and every later signal is dropped (the
// Durable Functions extension does the same), so its page offers none of
// them and the dashboard refuses them; purge (of a finished one) stays.
func TestEntityInstanceActions(t *testing.T) {
	e := newEnv(t, dashboard.Options{})
	e.entity("@counter@one", `{"exists":true,"state":"41"}`)
	e.start("Wait", "w1", "x")
	code, body, _ := e.get("/dashboard/instance?id=" + url.QueryEscape("@counter@one"))
	if code != 200 || !strings.Contains(body, `id="entity-note"`) {
		t.Errorf("entity page: %d", code)
	}
	for _, act := range []string{"act-raise", "act-suspend", "act-resume", "act-terminate", "act-rewind", "act-restart"} {
		if strings.Contains(body, `id="`+act+`"`) {
			t.Errorf("the entity's page offers %s", act)
		}
	}
	token := e.csrf("/dashboard/instance?id=w1")
	for _, op := range []string{"raise", "suspend", "resume", "terminate", "rewind", "restart"} {
		form := url.Values{"csrf": {token}, "id": {"@counter@one"}, "op": {op}, "confirm": {"yes"}, "event": {"e"}}
		if code, body, _ := e.post("/dashboard/action", form); code != http.StatusBadRequest || !strings.Contains(body, "entity") {
			t.Errorf("%s of an entity: %d", op, code)
		}
	}
	form := url.Values{"csrf": {token}, "id": {"@counter@one", "w1"}, "op": {"terminate"}, "confirm": {"yes"}}
	code, _, h := e.post("/dashboard/bulk", form)
	if loc, _ := url.QueryUnescape(h.Get("Location")); code != http.StatusSeeOther || !strings.Contains(loc, "1 done, 1 refused") {
		t.Errorf("bulk terminate: %d %s", code, loc)
	}
	if st, err := e.c.GetState(e.ctx, "@counter@one"); err != nil || st.Status != history.StatusPending {
		t.Errorf("the entity is %+v %v", st, err)
	}
}

// A typo the client refuses before sending anything (an id too long for
// the store, an entity name with '@') is the caller's mistake: 400 with
// the reason, not a 502 that blames the storage.
func TestActionRefusedByClient(t *testing.T) {
	e := newEnv(t, dashboard.Options{SignalEntity: func(_ context.Context, name, key, op string, _ *string) error {
		return refuseLikeClient(name)
	}})
	e.start("Wait", "w1", "x")
	token := e.csrf("/dashboard/instance?id=w1")
	long := strings.Repeat("x", 2000)
	for _, op := range []string{"terminate", "suspend", "raise"} {
		form := url.Values{"csrf": {token}, "id": {long}, "op": {op}, "confirm": {"yes"}, "event": {"e"}}
		if code, body, _ := e.post("/dashboard/action", form); code != http.StatusBadRequest || !strings.Contains(body, "UTF-16") {
			t.Errorf("%s of a 2000-character id: %d", op, code)
		}
	}
	form := url.Values{"csrf": {token}, "name": {"a@b"}, "key": {"k"}, "operation": {"add"}}
	if code, _, _ := e.post("/dashboard/signal", form); code != http.StatusBadRequest {
		t.Errorf("signal to a@b: %d", code)
	}
}

// refuseLikeClient refuses names as the client does.
func refuseLikeClient(name string) error {
	return client.New(nil, client.Options{}).SignalEntity(context.Background(), durable.NewEntityID(name, "k"), "add", nil)
}
