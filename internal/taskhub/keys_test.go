package taskhub

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// testdata holds the vectors recorded from the C# backend.
const testdata = "../../testdata"

func TestPartitionKeyEscapingVectors(t *testing.T) {
	var doc struct {
		PartitionKeyEscaping []struct {
			InstanceID   string `json:"instanceId"`
			PartitionKey string `json:"partitionKey"`
		} `json:"partitionKeyEscaping"`
	}
	readJSON(t, filepath.Join(testdata, "azstorage-naming-and-hashing.json"), &doc)
	if len(doc.PartitionKeyEscaping) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range doc.PartitionKeyEscaping {
		if got := EscapePartitionKey(v.InstanceID); got != v.PartitionKey {
			t.Errorf("Escape(%q) = %q, want %q", v.InstanceID, got, v.PartitionKey)
		}
		if got := UnescapePartitionKey(v.PartitionKey); got != v.InstanceID {
			t.Errorf("Unescape(%q) = %q, want %q", v.PartitionKey, got, v.InstanceID)
		}
	}
}

func TestPartitionKeyEscapingRules(t *testing.T) {
	cases := []struct{ in, out string }{
		{"", ""},
		{"^", "^^"},
		{"/\\#?", "^0^1^2^3"},
		{"\x00", "^\u00c0"},
		{"\x1f", "^\u00df"},
		{"\x7f", "^\u013f"},
		{"\u0080\u009f", "^\u0140^\u015f"},
		{"\u00a0é😀", "\u00a0é😀"},
		{"a\xffb/", "a\xffb^0"}, // invalid UTF-8 passes through
	}
	for _, c := range cases {
		if got := EscapePartitionKey(c.in); got != c.out {
			t.Errorf("Escape(%q) = %q, want %q", c.in, got, c.out)
		}
		if got := UnescapePartitionKey(c.out); got != c.in {
			t.Errorf("Unescape(%q) = %q, want %q", c.out, got, c.in)
		}
	}
	// Inputs Escape never produces, decoded as C# decodes them.
	odd := []struct{ in, out string }{
		{"^x", "x"},
		{"^\u00c1", "\x01"},
		{"^", "^"},          // C# throws; kept
		{"a^\xff", "a\xff"}, // invalid byte after '^' is the character itself
	}
	for _, c := range odd {
		if got := UnescapePartitionKey(c.in); got != c.out {
			t.Errorf("Unescape(%q) = %q, want %q", c.in, got, c.out)
		}
	}
}

func FuzzPartitionKeyRoundTrip(f *testing.F) {
	for _, s := range []string{"", "abc", "order/42?x", "a^b", "tab\there", "x#y\\z", "\x00\x7f\u0085", "\xff^", "😀^0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		esc := EscapePartitionKey(s)
		if got := UnescapePartitionKey(esc); got != s {
			t.Fatalf("Unescape(Escape(%q)) = %q (escaped %q)", s, got, esc)
		}
		for _, r := range esc {
			if r == '/' || r == '\\' || r == '#' || r == '?' || needsShift(r) {
				t.Fatalf("Escape(%q) = %q keeps a forbidden character %U", s, esc, r)
			}
		}
		// Unescape never fails and is idempotent on its own output's escape.
		u := UnescapePartitionKey(s)
		if UnescapePartitionKey(EscapePartitionKey(u)) != u {
			t.Fatalf("round trip of Unescape(%q) failed", s)
		}
	})
}

// readJSON decodes a test vector file.
func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
