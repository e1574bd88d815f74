package httpapi

import (
	"net/http/httptest"
	"testing"
	"time"
)

func TestWaitBounds(t *testing.T) {
	h := &Handler{}
	for _, c := range []struct {
		query             string
		timeout, interval time.Duration
		wait, refused     bool
	}{
		{query: "timeout=10"},
		{query: "timeout=10&pollingInterval=0", wait: true, timeout: 10 * time.Second, interval: MinPollingInterval},
		{query: "timeout=1000000000&pollingInterval=0.001", wait: true, timeout: MaxWaitTimeout, interval: MinPollingInterval},
		{query: "timeout=1000000&pollingInterval=3600", wait: true, timeout: MaxWaitTimeout, interval: MaxPollingInterval},
		{query: "timeout=30&pollingInterval=2.5", wait: true, timeout: 30 * time.Second, interval: 2500 * time.Millisecond},
		{query: "timeout=0.5&pollingInterval=0.1", wait: true, timeout: 500 * time.Millisecond, interval: MinPollingInterval},
		{query: "timeout=1&pollingInterval=2", refused: true},
		{query: "timeout=NaN&pollingInterval=1"},
		{query: "timeout=1e10&pollingInterval=1"},
		{query: "timeout=-1&pollingInterval=1"},
	} {
		rec := httptest.NewRecorder()
		req := &request{w: rec, r: httptest.NewRequest("POST", "/?"+c.query, nil), q: parseQuery(c.query)}
		w, ok := h.waitOptions(req)
		switch {
		case c.refused:
			if ok || rec.Code != 400 {
				t.Errorf("%s: not refused (%d)", c.query, rec.Code)
			}
		case !ok:
			t.Errorf("%s: refused", c.query)
		case !c.wait && w != nil:
			t.Errorf("%s: waits %+v", c.query, w)
		case c.wait && (w == nil || w.timeout != c.timeout || w.interval != c.interval):
			t.Errorf("%s: %+v, want timeout %v interval %v", c.query, w, c.timeout, c.interval)
		}
	}
}
