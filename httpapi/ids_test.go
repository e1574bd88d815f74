package httpapi_test

import (
	"strings"
	"testing"
)

// TestIDsNoTableHolds: an instance id that no Instances row can hold (too
// long for a table key, not UTF-8) names no instance, and every route
// answers it as it answers an unknown id, as the extension does (a purge,
// rewind or restart of a 2000-character id is 404, 404 and 400 there, not
// an internal error).
func TestIDsNoTableHolds(t *testing.T) {
	diff := loadCases(t, "http-differences.jsonl")
	rr := loadCases(t, "http-rewind-restart.jsonl")
	e := newEnv(t, nil)
	long := strings.Repeat("x", 2000)
	for _, id := range []string{long, "%FF"} {
		what := id[:min(len(id), 8)]
		for _, c := range []struct{ method, suffix string }{{"GET", ""}, {"POST", "/terminate"}, {"POST", "/suspend"}, {"POST", "/resume"}} {
			if r := e.do(c.method, base+"/instances/"+id+c.suffix, ""); r.code != 404 || r.body != "" {
				t.Errorf("%s %s…%s: %d %s", c.method, what, c.suffix, r.code, r.body)
			}
		}
		if r := e.do("POST", base+"/instances/"+id+"/raiseEvent/x", "1", "Content-Type", "application/json"); r.code != 404 {
			t.Errorf("raise %s…: %d %s", what, r.code, r.body)
		}
		sameAnswer(t, "purge "+what, e.do("DELETE", base+"/instances/"+id, ""), diff["purge-one-completed-again"])
		r := e.do("POST", base+"/instances/"+id+"/rewind", "")
		if want := rr["rewind-unknown"]; id == long {
			sameAnswer(t, "rewind "+what, r, want, "h-nope", id)
		} else if r.code != want.Status {
			t.Errorf("rewind %s: %d %s", what, r.code, r.body)
		}
		for _, q := range []string{"", "?restartWithNewInstanceId=false"} {
			sameError(t, "restart "+what+q, e.do("POST", base+"/instances/"+id+"/restart"+q, ""), rr["restart-unknown"], "Message", "ExceptionType")
		}
	}
}
