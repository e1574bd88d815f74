package partition

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Helpers that read the golden files under testdata/ and compare table
// bodies by shape: column names in order, EDM annotations, value types and
// formats, with times, ETags and worker ids normalised.

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// member is one name/value pair of a JSON object, in document order.
type member struct {
	Name string
	Raw  json.RawMessage
}

// members returns the members of a JSON object in the order written.
func members(t *testing.T, data []byte) []member {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not a JSON object: %.80s", data)
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			t.Fatal(err)
		}
		out = append(out, member{Name: tok.(string), Raw: raw})
	}
	return out
}

// withoutNulls drops members whose value is JSON null: C# sends them, the
// service does not store them, and Go must not send them.
func withoutNulls(ms []member) []member {
	var out []member
	for _, m := range ms {
		if string(m.Raw) != "null" {
			out = append(out, m)
		}
	}
	return out
}

var edmTime7 = regexp.MustCompile(`^"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z"$`)

// norm says what sameShape may normalise: times may differ by Tol; owner
// ids are mapped through Owners (worker ids differ between runs); with
// AnyQueue, RowKeys only need to be control-queue names (hubs differ).
type norm struct {
	Tol      time.Duration
	Owners   map[string]string
	AnyQueue bool
}

var queueName = regexp.MustCompile(`^"[a-z][a-z0-9]*-control-\d\d"$`)

// sameShape compares two table bodies member by member: the same names in
// the same order; for time columns both must have C#'s 7-digit format and
// differ by at most n.Tol; everything not normalised byte for byte.
func sameShape(got, want []member, n norm) error {
	tol, owners := n.Tol, n.Owners
	names := func(ms []member) string {
		var s []string
		for _, m := range ms {
			s = append(s, m.Name)
		}
		return strings.Join(s, ",")
	}
	if names(got) != names(want) {
		return fmt.Errorf("columns differ:\n got  %s\n want %s", names(got), names(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		switch g.Name {
		case colRowKey:
			if !bytes.Equal(g.Raw, w.Raw) && !(n.AnyQueue && queueName.Match(g.Raw) && queueName.Match(w.Raw)) {
				return fmt.Errorf("%s: got %s want %s", g.Name, g.Raw, w.Raw)
			}
		case colOwnedSince, colLastRenewal, colExpiresAt:
			if !edmTime7.Match(g.Raw) || !edmTime7.Match(w.Raw) {
				return fmt.Errorf("%s: not 7-digit UTC DateTimes: got %s want %s", g.Name, g.Raw, w.Raw)
			}
			var gs, ws string
			_ = json.Unmarshal(g.Raw, &gs)
			_ = json.Unmarshal(w.Raw, &ws)
			gt, _ := time.Parse(time.RFC3339Nano, gs)
			wt, _ := time.Parse(time.RFC3339Nano, ws)
			if d := gt.Sub(wt).Abs(); d > tol {
				return fmt.Errorf("%s: %s and %s differ by %v", g.Name, gs, ws, d)
			}
		case colCurrentOwner, colNextOwner:
			var gs, ws string
			_ = json.Unmarshal(g.Raw, &gs)
			_ = json.Unmarshal(w.Raw, &ws)
			if m, ok := owners[gs]; ok {
				gs = m
			}
			if gs != ws {
				return fmt.Errorf("%s: got %q want %q", g.Name, gs, ws)
			}
		default:
			if !bytes.Equal(g.Raw, w.Raw) {
				return fmt.Errorf("%s: got %s want %s", g.Name, g.Raw, w.Raw)
			}
		}
	}
	return nil
}

// csWrite is one recorded C# write of a Partitions row.
type csWrite struct {
	WireIndex int    `json:"wire_index"`
	Phase     string `json:"phase"`
	Method    string `json:"method"`
	URL       string `json:"url"`
	IfMatch   string `json:"If-Match"`
	BodyRaw   string `json:"body_raw"`
	Status    int    `json:"status"`
}

func csPartitionWrites(t *testing.T) map[string][]csWrite {
	t.Helper()
	var all map[string][]csWrite
	if err := json.Unmarshal(readTestdata(t, "csharp/tables/partition-writes.json"), &all); err != nil {
		t.Fatal(err)
	}
	return all
}

// leaseVectors returns the named objects of azstorage-leases-and-metadata.json
// as raw JSON, keeping their member order.
func leaseVectors(t *testing.T) map[string]json.RawMessage {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(readTestdata(t, "azstorage-leases-and-metadata.json"), &top); err != nil {
		t.Fatal(err)
	}
	var v3 map[string]json.RawMessage
	if err := json.Unmarshal(top["tablePartitionManager_v3_default"], &v3); err != nil {
		t.Fatal(err)
	}
	for k, v := range v3 {
		top["v3."+k] = v
	}
	return top
}

func compact(t *testing.T, raw []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
