package archtest

import (
	"bufio"
	"bytes"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/azdurable/azdurable"

// rule says that no package of From (the package and its sub-packages) may
// import, directly or through other packages, any package of Banned (each
// with its sub-packages). Via names packages that are the sanctioned way
// down for From: what they import is their own affair (their own rules
// check it), so the walk does not go through them.
type rule struct {
	From   []string
	Banned []string
	Via    []string
}

// rules are the arrows of docs/architecture.md, written the other way
// round: what each layer must never reach.
var rules = []rule{
	{From: []string{"queues"}, Banned: []string{"provider", "worker", "client", "cli", "partition", "tables"}},
	{From: []string{"tables"}, Banned: []string{"provider", "worker", "client", "cli", "queues", "partition"}},
	{From: []string{"blobs"}, Banned: []string{"provider", "worker", "client", "cli", "queues", "tables", "partition"}},
	{From: []string{"partition"}, Banned: []string{"provider", "worker", "client", "cli", "queues", "tables"}},
	{From: []string{"provider/memory"}, Banned: []string{"queues", "tables", "blobs", "partition"}},
	{From: []string{"durabletest"}, Banned: []string{"queues", "tables", "blobs", "partition", "provider/azurestorage"}},
	{From: []string{"provider"}, Banned: []string{"worker", "client", "cli", "samples", "durabletest"}},
	// The command line reaches storage only through the Azure Storage
	// backend's own API (its admin functions included) and the queue
	// message codec (inspect message, the worker's encoding flag); what
	// those two import is theirs.
	{From: []string{"cli"}, Banned: []string{"tables", "partition", "blobs", "internal/bench", "internal/chaos", "internal/conformance", "samples"},
		Via: []string{"provider/azurestorage", "queues"}},
	// The dashboard reads storage only through the Azure Storage backend's
	// admin API, and manages instances through the client.
	{From: []string{"internal/dashboard"}, Banned: []string{"queues", "tables", "blobs", "partition", "worker", "cli",
		"internal/bench", "internal/chaos", "samples"}, Via: []string{"provider/azurestorage"}},
	// Metrics read storage only through the backend's admin API and the
	// call counter of package storage, and know the worker only as an
	// observer of the worker's own shape (the command line joins them).
	{From: []string{"internal/metrics"}, Banned: []string{"queues", "tables", "blobs", "partition", "worker", "client", "cli",
		"httpapi", "internal/dashboard", "internal/bench", "internal/chaos", "samples"}, Via: []string{"provider/azurestorage"}},
	{From: []string{"internal/replay"}, Banned: []string{"provider", "queues", "tables", "blobs", "partition", "worker", "client"}},
	{From: []string{"worker", "client"}, Banned: []string{"queues", "tables", "blobs", "partition"}},
	// Tracing knows the event model and OpenTelemetry only: the worker
	// and the client call it, never the other way round.
	{From: []string{"internal/tracing"}, Banned: []string{"provider", "worker", "client", "cli", "durable", "queues", "tables",
		"blobs", "partition", "storage", "internal/episode", "internal/replay"}},
	{From: []string{"history"}, Banned: []string{"queues", "tables", "blobs", "partition", "provider"}},
	// The entity core is pure: the backends, the rules, the programming
	// model and the client all build on it, so it reaches none of them.
	{From: []string{"internal/entity"}, Banned: []string{"provider", "queues", "tables", "blobs", "partition", "worker", "client", "cli", "durable", "internal/registry", "internal/replay", "internal/episode", "storage"}},
	// The task hub core is the bottom of the storage packages.
	{From: []string{"internal/taskhub"}, Banned: []string{"queues", "tables", "blobs", "partition", "provider", "worker", "client", "cli", "history", "storage"}},
}

// graph maps each package of the module (path relative to the module) to
// its non-test imports inside the module.
func graph(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	g := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		p, ok := local(fields[0])
		if !ok {
			continue
		}
		g[p] = nil
		for _, imp := range fields[1:] {
			if q, ok := local(imp); ok {
				g[p] = append(g[p], q)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(g) < 10 {
		t.Fatalf("go list found only %d packages of the module", len(g))
	}
	return g
}

func local(path string) (string, bool) {
	if path == module {
		return ".", true
	}
	rest, ok := strings.CutPrefix(path, module+"/")
	return rest, ok
}

// in reports whether package p is pkg or one of its sub-packages.
func in(p, pkg string) bool { return p == pkg || strings.HasPrefix(p, pkg+"/") }

func inAny(p string, pkgs []string) (string, bool) {
	for _, x := range pkgs {
		if in(p, x) {
			return x, true
		}
	}
	return "", false
}

// violation is one forbidden arrow, with the import chain that makes it.
type violation struct {
	from, banned string
	chain        []string
}

// check returns every violation of r in g: for each package of r.From, the
// shortest import chain to each banned package it reaches.
func check(g map[string][]string, r rule) []violation {
	var out []violation
	var starts []string
	for p := range g {
		if _, ok := inAny(p, r.From); ok {
			starts = append(starts, p)
		}
	}
	sort.Strings(starts)
	for _, start := range starts {
		from, _ := inAny(start, r.From)
		// Breadth first, so that the chain reported is a shortest one.
		prev := map[string]string{start: ""}
		queue := []string{start}
		for len(queue) > 0 {
			p := queue[0]
			queue = queue[1:]
			if _, via := inAny(p, r.Via); via && p != start {
				continue
			}
			imps := append([]string(nil), g[p]...)
			sort.Strings(imps)
			for _, q := range imps {
				if _, seen := prev[q]; seen {
					continue
				}
				prev[q] = p
				if _, own := inAny(q, r.From); own {
					continue // a sub-package of the same layer is walked from its own start
				}
				if b, bad := inAny(q, r.Banned); bad {
					chain := []string{q}
					for x := p; x != ""; x = prev[x] {
						chain = append([]string{x}, chain...)
					}
					out = append(out, violation{from: from, banned: b, chain: chain})
					continue
				}
				queue = append(queue, q)
			}
		}
	}
	return out
}

// TestImportRules fails when a non-test import breaks a rule of
// docs/architecture.md. There are no exceptions: an import that breaks a
// rule is fixed, not excused.
func TestImportRules(t *testing.T) {
	g := graph(t)
	for _, r := range rules {
		for _, pkgs := range [][]string{r.From, r.Banned, r.Via} {
			for _, p := range pkgs {
				if _, ok := g[p]; !ok {
					if !hasSub(g, p) {
						t.Errorf("rule names %s, which is not a package of the module", p)
					}
				}
			}
		}
	}
	held, broken := 0, 0
	for _, r := range rules {
		byArrow := map[[2]string][]string{}
		for _, v := range check(g, r) {
			k := [2]string{v.from, v.banned}
			if _, dup := byArrow[k]; !dup {
				byArrow[k] = v.chain
			}
		}
		for _, from := range r.From {
			for _, b := range r.Banned {
				chain, bad := byArrow[[2]string{from, b}]
				if !bad {
					held++
					t.Logf("holds:  %s must not import %s", from, b)
					continue
				}
				broken++
				t.Errorf("%s must not import %s, but %s", from, b, strings.Join(chain, " -> "))
			}
		}
	}
	t.Logf("%d arrows hold, %d broken; %d importable packages (not internal, not a command, with non-test code)",
		held, broken, importable(t))
}

func hasSub(g map[string][]string, p string) bool {
	for q := range g {
		if in(q, p) {
			return true
		}
	}
	return false
}

// importable counts the packages a user can import: not internal, not a
// command, with at least one non-test file.
func importable(t *testing.T) int {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", `{{.Name}} {{.ImportPath}} {{len .GoFiles}}`, module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] == "main" || f[2] == "0" || strings.Contains(f[1]+"/", "/internal/") {
			continue
		}
		n++
	}
	return n
}
