package main

import (
	"log"
	"net/http"
	"time"
)

// entities records the extension's entity routes: reading a state (a
// known, an unknown and the empty key), signalling with and without input
// and content type, a body that is not JSON, DELETE, and listing entities
// by name and across names, with and without state, paged, and filtered by
// the last operation's time.
func (r *recorder) entities() {
	str := func(s string) *string { return &s }
	json := []string{"Content-Type", "application/json"}
	// waitState polls an entity until it answers want (or 404 when want
	// is "").
	waitState := func(path, want string) {
		deadline := time.Now().Add(90 * time.Second)
		for {
			l := r.do("GET", path, nil)
			if (want == "" && l.Status == http.StatusNotFound) || (want != "" && l.Status == http.StatusOK && l.Body == want) {
				return
			}
			if time.Now().After(deadline) {
				// Record what is there; the worker must still be stopped.
				log.Printf("%s: not %q after 90 s: %d %s", path, want, l.Status, l.Body)
				return
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	r.rec("entity-get-unknown", "GET", "/entities/Counter/e-none", nil)
	r.rec("entity-post-json", "POST", "/entities/Counter/e1?op=add", str("5"), json...)
	waitState("/entities/Counter/e1", "5")
	r.rec("entity-get", "GET", "/entities/Counter/e1", nil)
	r.rec("entity-get-name-case", "GET", "/entities/COUNTER/e1", nil)
	r.rec("entity-get-key-case", "GET", "/entities/Counter/E1", nil)
	r.rec("entity-post-text", "POST", "/entities/Counter/e2?op=add", str("7"), "Content-Type", "text/plain")
	waitState("/entities/Counter/e2", "7")
	r.rec("entity-get-after-text", "GET", "/entities/Counter/e2", nil)
	r.rec("entity-post-no-body", "POST", "/entities/Counter/e3?op=reset", nil)
	waitState("/entities/Counter/e3", "0")
	r.rec("entity-get-after-no-body", "GET", "/entities/Counter/e3", nil)
	r.rec("entity-post-bad-json", "POST", "/entities/Counter/e4?op=add", str("{"), json...)
	r.rec("entity-post-no-op", "POST", "/entities/Counter/e5", str("1"), json...)
	r.rec("entity-post-unknown-op", "POST", "/entities/Counter/e6?op=nosuch", str("1"), json...)
	// "$" is the empty key for GET only: a POST signals the key "$".
	r.rec("entity-post-dollar-key", "POST", "/entities/Counter/$?op=add", str("2"), json...)
	time.Sleep(3 * time.Second)
	r.rec("entity-get-empty-key", "GET", "/entities/Counter/$", nil)
	r.rec("entity-list-after-dollar", "GET", "/entities/Counter?fetchState=true", nil)
	r.rec("entity-post-state-object", "POST", "/entities/Counter/e7?op=add", str(" 3 "), json...)
	waitState("/entities/Counter/e7", "3")
	r.rec("entity-delete", "DELETE", "/entities/Counter/e7", nil)
	waitState("/entities/Counter/e7", "")
	r.rec("entity-get-after-delete", "GET", "/entities/Counter/e7", nil)
	r.rec("entity-put", "PUT", "/entities/Counter/e1", str("1"), json...)
	time.Sleep(3 * time.Second) // let e5 and e6 run
	r.rec("entity-get-after-no-op", "GET", "/entities/Counter/e5", nil)
	r.rec("entity-get-after-unknown-op", "GET", "/entities/Counter/e6", nil)
	r.rec("entity-list-name", "GET", "/entities/Counter", nil)
	r.rec("entity-list-name-case", "GET", "/entities/counter", nil)
	r.rec("entity-list-all", "GET", "/entities", nil)
	r.rec("entity-list-all-slash", "GET", "/entities/", nil)
	r.rec("entity-list-state", "GET", "/entities/Counter?fetchState=true", nil)
	p1 := r.rec("entity-list-page-1", "GET", "/entities/Counter?top=2&fetchState=true", nil)
	if tok := p1.Headers["x-ms-continuation-token"]; tok != "" {
		r.rec("entity-list-page-2", "GET", "/entities/Counter?top=2&fetchState=true", nil, "x-ms-continuation-token", tok)
	}
	r.rec("entity-list-from-future", "GET", "/entities/Counter?lastOperationTimeFrom=2099-01-01T00:00:00Z", nil)
	r.rec("entity-list-to-past", "GET", "/entities/Counter?lastOperationTimeTo=2000-01-01T00:00:00Z", nil)
	r.rec("entity-list-unknown-name", "GET", "/entities/Nothing", nil)
	r.rec("entity-instance-status", "GET", "/instances/@counter@e1", nil)
}
