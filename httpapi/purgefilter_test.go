package httpapi_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
)

// Careless use: a purge by filter with a typo. The extension reads a
// createdTimeTo it cannot parse as "now", drops a runtimeStatus it does
// not know (and with none left purges every status), and ignores
// instanceIdPrefix, which only the list route takes: each typo purges
// more than was asked, in the extension every instance of the range
// (recorded from dfx-ref: createdTimeTo=2026-13-01T00:00:00Z with
// instanceIdPrefix=d1 deleted 4 instances). azdurable refuses such a
// purge with 400 before it deletes anything.
func TestPurgeFilterTypos(t *testing.T) {
	g := newGuarded(t, nil)
	ctx, cancel := g.env.Context()
	defer cancel()
	for _, id := range []string{"keep-1", "keep-2"} {
		g.approval(id)
		if err := g.env.Client.Terminate(ctx, id, "done"); err != nil {
			t.Fatal(err)
		}
		azuritetestWait(t, id+" to be terminated", func() bool { st, _ := g.status(id); return st == client.Terminated })
	}
	from := "createdTimeFrom=" + url.QueryEscape(g.env.Clock.Now().Add(-time.Hour).Format(time.RFC3339))
	for _, q := range []string{
		from + "&createdTimeTo=2026-13-01T00:00:00Z",
		from + "&runtimeStatus=Termnated",
		from + "&runtimeStatus=Terminated,Faild",
		from + "&instanceIdPrefix=keep-1",
	} {
		if r := g.do("DELETE", "/instances?"+q, ""); r.code != 400 || r.header.Get("Content-Type") != "application/json; charset=utf-8" || r.body == "" || r.body[0] != '"' {
			t.Errorf("DELETE instances?%s: %d %q %s", q, r.code, r.header.Get("Content-Type"), r.body)
		}
	}
	for _, id := range []string{"keep-1", "keep-2"} {
		if _, ok := g.status(id); !ok {
			t.Fatalf("%s was purged", id)
		}
	}
	// The same filters spelled right (an empty value is as if absent) purge.
	if r := g.do("DELETE", "/instances?"+from+"&runtimeStatus=Completed,Terminated&createdTimeTo=", ""); r.code != 200 || r.body != `{"instancesDeleted":2}` {
		t.Errorf("purge: %d %s", r.code, r.body)
	}
}
