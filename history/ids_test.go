package history

import (
	"regexp"
	"testing"
)

// TestNewIDIsDurableTaskCoresForm: 32 lower-case hex digits, no dashes,
// a new one each time.
func TestNewIDIsDurableTaskCoresForm(t *testing.T) {
	form := regexp.MustCompile(`^[0-9a-f]{32}$`)
	seen := map[string]bool{}
	for range 100 {
		id := NewID()
		if !form.MatchString(id) {
			t.Fatalf("NewID() = %q, want 32 lower-case hex digits", id)
		}
		if seen[id] {
			t.Fatalf("NewID() repeated %q", id)
		}
		seen[id] = true
	}
}
