package main

import (
	"strings"
	"testing"
)

func TestReportPrintsEachPackageWhenItEnds(t *testing.T) {
	var b strings.Builder
	r := newReport(&b)
	for _, l := range []string{
		`{"Action":"start","Package":"p/slow"}`,
		`{"Action":"start","Package":"p/fast"}`,
		`{"Action":"run","Package":"p/fast","Test":"TestA"}`,
		`{"Action":"output","Package":"p/fast","Test":"TestA","Output":"=== RUN   TestA\n"}`,
		`{"Action":"output","Package":"p/fast","Test":"TestA","Output":"    a_test.go:9: detail\n"}`,
		`{"Action":"output","Package":"p/fast","Test":"TestA","Output":"--- FAIL: TestA (0.00s)\n"}`,
		`{"Action":"fail","Package":"p/fast","Test":"TestA","Elapsed":0}`,
		`{"Action":"run","Package":"p/fast","Test":"TestB"}`,
		`{"Action":"output","Package":"p/fast","Test":"TestB","Output":"    b_test.go:3: quiet\n"}`,
		`{"Action":"pass","Package":"p/fast","Test":"TestB","Elapsed":0}`,
		`{"Action":"output","Package":"p/fast","Output":"FAIL\n"}`,
		`{"Action":"output","Package":"p/fast","Output":"FAIL\tp/fast\t0.012s\n"}`,
		`{"Action":"fail","Package":"p/fast","Elapsed":0.012}`,
		`{"Action":"output","Package":"p/none","Output":"?   \tp/none\t[no test files]\n"}`,
		`{"Action":"skip","Package":"p/none","Elapsed":0}`,
		`{"Action":"output","Package":"p/slow","Output":"ok  \tp/slow\t95.1s\n"}`,
		`{"Action":"pass","Package":"p/slow","Elapsed":95.1}`,
	} {
		r.line([]byte(l))
	}
	want := "    a_test.go:9: detail\n--- FAIL: TestA (0.00s)\n" +
		"FAIL  p/fast\t0.012s\n" +
		"?     p/none\t[no test files]\n" +
		"ok    p/slow\t95.100s\n"
	if got := b.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if r.ok != 1 || r.fail != 1 || r.noTests != 1 || r.failed {
		t.Errorf("counts %+v", r)
	}
	r.line([]byte("go: unknown flag -rcae"))
	if !r.failed || !strings.HasSuffix(b.String(), "go: unknown flag -rcae\n") {
		t.Errorf("a line that is not an event must be shown and fail the run")
	}
}
