package cli

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/internal/azuritetest"
)

// "entities clean --one-page" cleans a page at a time and prints the token
// that goes on; the pages together do what one clean does. A bad token or
// page size is a usage error.
func TestEntitiesCleanPages(t *testing.T) {
	hub, _ := counterHub(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	storage := []string{"--connection-string", azuritetest.ConnectionString(t), "--task-hub", hub}
	cli := func(args ...string) (string, error) { return entitiesCLI(ctx, append(args, storage...)...) }
	must := func(args ...string) string {
		t.Helper()
		out, err := cli(args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return out
	}
	for _, key := range []string{"a1", "a2", "a3"} {
		must("signal", "Counter", key, "add", "--input", "1")
	}
	must("delete", "Counter", "a2")
	azuritetest.WaitFor(t, 2*time.Minute, "a1 and a3 counted, a2 deleted", func() (bool, error) {
		a1, err1 := cli("get", "Counter", "a1")
		a3, err3 := cli("get", "Counter", "a3")
		_, err2 := cli("get", "Counter", "a2")
		return err1 == nil && err3 == nil && a1 == "1\n" && a3 == "1\n" && err2 != nil && strings.Contains(err2.Error(), "not found"), nil
	})

	for _, bad := range [][]string{
		{"clean", "--continuation-token", "junk!"},
		{"clean", "--continuation-token", "QGNvdW50ZXJAazE"},
		{"clean", "--page-size", "0"},
		{"clean", "--page-size", "1001"},
	} {
		var usage usageError
		if _, err := cli(bad...); !errors.As(err, &usage) {
			t.Errorf("%v: %v, want a usage error", bad, err)
		}
	}

	next := regexp.MustCompile(`(?m)^not done: go on with --continuation-token (\S+)$`)
	removed := regexp.MustCompile(`(?m)^removed (\d+) empty entities, released 0 orphaned locks$`)
	total, pages := 0, 0
	args := []string{"clean", "--one-page", "--page-size", "1", "--older-than", "0s"}
	for {
		out := must(args...)
		pages++
		m := removed.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("page %d: %q", pages, out)
		}
		if m[1] == "1" {
			total++
		}
		tok := next.FindStringSubmatch(out)
		if tok == nil {
			break
		}
		if pages > 10 {
			t.Fatalf("the clean does not end: %q", out)
		}
		args = []string{"clean", "--one-page", "--page-size", "1", "--older-than", "0s", "--continuation-token", tok[1]}
	}
	if total != 1 || pages < 3 {
		t.Errorf("pages of one entity: %d removed in %d pages, want 1 in at least 3", total, pages)
	}
	// Without --one-page the clean goes through every page itself.
	if out := must("clean", "--page-size", "1", "--older-than", "0s"); out != "removed 0 empty entities, released 0 orphaned locks\n" {
		t.Errorf("clean of every page: %q", out)
	}
}
