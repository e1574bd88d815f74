package tables

import (
	"encoding/json"
	"os"
	"testing"
)

func TestRowKeys(t *testing.T) {
	for seq, want := range map[int]string{0: "0000000000000000", 10: "000000000000000A", 255: "00000000000000FF"} {
		if got := RowKeyFor(seq); got != want {
			t.Errorf("RowKeyFor(%d) = %q, want %q", seq, got, want)
		}
		if n, ok := ParseRowKey(want); !ok || n != seq {
			t.Errorf("ParseRowKey(%q) = %d, %v", want, n, ok)
		}
	}
	for _, bad := range []string{SentinelRowKey, "", "000000000000000G", "+00000000000000A"} {
		if _, ok := ParseRowKey(bad); ok {
			t.Errorf("ParseRowKey(%q) accepted", bad)
		}
	}
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
