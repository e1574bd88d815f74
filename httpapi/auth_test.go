package httpapi_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/httpapi"
)

// The rewind route answers 501 without touching the backend, so it shows
// whether a request got past authorization.
const probe = "/runtime/webhooks/durabletask/instances/x/rewind"

func serve(t *testing.T, o httpapi.Options, remote string, header map[string]string, target string) *httptest.ResponseRecorder {
	t.Helper()
	o.Client, o.TaskHub = client.New(nil, client.Options{}), "MyHub"
	h, err := httpapi.New(o)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("POST", target, nil)
	req.RemoteAddr = remote
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestAuthorization(t *testing.T) {
	keys := httpapi.Options{Keys: []string{"", "k1", "second-key"}}
	for _, tc := range []struct {
		name   string
		o      httpapi.Options
		remote string
		header map[string]string
		target string
		want   int
	}{
		{"loopback v4", httpapi.Options{}, "127.0.0.1:1", nil, probe, 501},
		{"loopback v6", httpapi.Options{}, "[::1]:1", nil, probe, 501},
		{"remote refused", httpapi.Options{}, "192.0.2.1:1", nil, probe, 403},
		{"forwarding headers ignored", httpapi.Options{}, "192.0.2.1:1", map[string]string{"X-Forwarded-For": "127.0.0.1"}, probe, 403},
		{"no key", keys, "127.0.0.1:1", nil, probe, 401},
		{"header key", keys, "192.0.2.1:1", map[string]string{"x-functions-key": "k1"}, probe, 501},
		{"query key", keys, "192.0.2.1:1", nil, probe + "?code=second-key", 501},
		{"query name in any case", keys, "192.0.2.1:1", nil, probe + "?CODE=k1", 501},
		{"wrong key", keys, "192.0.2.1:1", nil, probe + "?code=k2", 401},
		{"prefix of a key", keys, "192.0.2.1:1", nil, probe + "?code=k", 401},
		{"header wins over query", keys, "192.0.2.1:1", map[string]string{"x-functions-key": "bad"}, probe + "?code=k1", 401},
		{"hook", httpapi.Options{Authorize: func(r *http.Request) error {
			if r.Header.Get("Authorization") == "Bearer ok" {
				return nil
			}
			return errors.New("no")
		}}, "192.0.2.1:1", map[string]string{"Authorization": "Bearer ok"}, probe, 501},
		{"hook refuses", httpapi.Options{Authorize: func(*http.Request) error { return errors.New("no") }}, "127.0.0.1:1", nil, probe, 403},
		{"hook unauthorized", httpapi.Options{Authorize: func(*http.Request) error { return httpapi.ErrUnauthorized }}, "127.0.0.1:1", nil, probe, 401},
	} {
		rec := serve(t, tc.o, tc.remote, tc.header, tc.target)
		if rec.Code != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, rec.Code, tc.want)
		}
		if tc.want != 501 && rec.Body.Len() != 0 {
			t.Errorf("%s: refusal has a body %q", tc.name, rec.Body)
		}
	}
}

func TestOptions(t *testing.T) {
	c := client.New(nil, client.Options{})
	for _, o := range []httpapi.Options{
		{TaskHub: "H"},
		{Client: c},
		{Client: c, TaskHub: "H", Origin: "myapp.example.com"},
		{Client: c, TaskHub: "H", Origin: "https://myapp.example.com/path"},
	} {
		if _, err := httpapi.New(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	// A custom base path, matched in any case; "/" serves at the root.
	for _, bp := range []struct{ base, target string }{
		{"/api/durable/", "/API/Durable/instances/x/rewind"},
		{"/", "/instances/x/rewind"},
	} {
		rec := serve(t, httpapi.Options{BasePath: bp.base}, "127.0.0.1:1", nil, bp.target)
		if rec.Code != 501 {
			t.Errorf("base %q: %d", bp.base, rec.Code)
		}
	}
}
