// Command testreport runs `go test -json ...` and prints one line per
// package as soon as that package finishes ("ok", "FAIL" or "?" with its
// time), the output of every failed test and build error, and a summary
// with the wall time. Plain `go test` over many packages prints each
// package's line only after every package before it in the list is done,
// so a slow early package hides the progress of the others; the JSON
// stream is in finishing order.
//
//	go run ./internal/testreport -- go test -json -race ./...
//
// It exits with the test command's status, or 1 if a package or test
// failed or the command printed something that is not a test event.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// event is one line of `go test -json` (cmd/test2json), build events
// included.
type event struct {
	Action      string
	Package     string
	ImportPath  string
	Test        string
	Output      string
	Elapsed     float64
	FailedBuild string
}

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: testreport -- go test -json [flags] [packages]")
		os.Exit(2)
	}
	os.Exit(run(args, os.Stdout))
}

func run(args []string, w io.Writer) int {
	start := time.Now()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		return 1
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		return 1
	}
	r := newReport(w)
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		r.line(sc.Bytes())
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "testreport: reading the test output:", err)
		r.failed = true
	}
	status := 0
	if err := cmd.Wait(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			fmt.Fprintln(os.Stderr, "testreport:", err)
		}
		status = 1
	}
	fmt.Fprintf(w, "%d packages ok, %d failed, %d without tests; wall time %s\n",
		r.ok, r.fail, r.noTests, time.Since(start).Round(time.Second))
	if r.failed || r.fail > 0 {
		status = 1
	}
	return status
}

type key struct{ pkg, test string }

type report struct {
	w                 io.Writer
	output            map[key][]string // buffered output of running tests and packages
	ok, fail, noTests int
	failed            bool
}

func newReport(w io.Writer) *report { return &report{w: w, output: map[key][]string{}} }

func (r *report) line(b []byte) {
	var e event
	if len(b) == 0 || b[0] != '{' || json.Unmarshal(b, &e) != nil {
		// Not a test event: the go command's own error, say.
		fmt.Fprintln(r.w, string(b))
		r.failed = true
		return
	}
	switch e.Action {
	case "build-output":
		fmt.Fprint(r.w, e.Output)
	case "build-fail":
		r.failed = true
	case "output":
		k := key{e.Package, e.Test}
		r.output[k] = append(r.output[k], e.Output)
	case "pass", "skip":
		if e.Test != "" {
			delete(r.output, key{e.Package, e.Test})
			return
		}
		out := r.output[key{e.Package, ""}]
		r.dropPackage(e.Package)
		if e.Action == "skip" || noTestFiles(out) {
			r.noTests++
			fmt.Fprintf(r.w, "?     %s\t[no test files]\n", e.Package)
			return
		}
		r.ok++
		fmt.Fprintf(r.w, "ok    %s\t%.3fs\n", e.Package, e.Elapsed)
	case "fail":
		if e.Test != "" {
			r.print(r.output[key{e.Package, e.Test}])
			delete(r.output, key{e.Package, e.Test})
			return
		}
		r.print(packageLines(r.output[key{e.Package, ""}], e.Package))
		r.dropPackage(e.Package)
		r.fail++
		what := ""
		if e.FailedBuild != "" {
			what = " [build failed]"
		}
		fmt.Fprintf(r.w, "FAIL  %s\t%.3fs%s\n", e.Package, e.Elapsed, what)
	}
}

// print writes buffered output without the lines that only frame tests.
func (r *report) print(lines []string) {
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "=== RUN") || strings.HasPrefix(t, "=== PAUSE") || strings.HasPrefix(t, "=== CONT") ||
			strings.HasPrefix(t, "=== NAME") || strings.HasPrefix(t, "--- PASS") || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		fmt.Fprint(r.w, l)
	}
}

// packageLines drops the package's own result lines (PASS, FAIL, "FAIL
// <package> <time>"), which the report's line replaces.
func packageLines(lines []string, pkg string) []string {
	var out []string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "PASS" || t == "FAIL" || strings.HasPrefix(t, "FAIL\t"+pkg) || strings.HasPrefix(t, "ok  \t"+pkg) {
			continue
		}
		out = append(out, l)
	}
	return out
}

func (r *report) dropPackage(pkg string) {
	for k := range r.output {
		if k.pkg == pkg {
			delete(r.output, k)
		}
	}
}

func noTestFiles(out []string) bool {
	for _, l := range out {
		if strings.Contains(l, "[no test files]") {
			return true
		}
	}
	return false
}
