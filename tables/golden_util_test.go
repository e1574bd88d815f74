package tables

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const csharpTables = "../testdata/csharp/tables"

// member is one JSON object member with its decoded value (numbers as
// json.Number, so 1 and 1.0 differ, and JSON-in-string columns compared as
// the exact inner text).
type member struct {
	Name  string
	Value any
}

// members decodes a JSON object into its members in document order,
// dropping explicit nulls (C# sends them, the service stores none of them)
// and, if drop is given, the named members.
func members(t testing.TB, raw []byte, drop ...string) []member {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		t.Fatalf("%v in %s", err, raw)
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		name := tok.(string)
		if v == nil || contains(drop, name) {
			continue
		}
		out = append(out, member{name, v})
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// sortedMembers is members sorted by name, for vectors whose member order is
// not C#'s (hand-written examples, Azurite's responses).
func sortedMembers(t testing.TB, raw []byte, drop ...string) []member {
	m := members(t, raw, drop...)
	sort.Slice(m, func(i, j int) bool { return m[i].Name < m[j].Name })
	return m
}

// diffMembers describes the first difference between two member lists.
func diffMembers(got, want []member) string {
	for i := 0; i < len(got) || i < len(want); i++ {
		switch {
		case i >= len(got):
			return fmt.Sprintf("missing member %d %s=%v", i, want[i].Name, want[i].Value)
		case i >= len(want):
			return fmt.Sprintf("extra member %d %s=%v", i, got[i].Name, got[i].Value)
		case got[i].Name != want[i].Name:
			return fmt.Sprintf("member %d: got %s, want %s", i, got[i].Name, want[i].Name)
		case !reflect.DeepEqual(got[i].Value, want[i].Value):
			return fmt.Sprintf("member %s: got %#v, want %#v", got[i].Name, got[i].Value, want[i].Value)
		}
	}
	return ""
}

// marshal encodes an entity or fails the test.
func marshal(t testing.TB, e *Entity) []byte {
	t.Helper()
	b, err := MarshalEntity(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// unmarshal decodes an entity or fails the test.
func unmarshal(t testing.TB, raw []byte) *Entity {
	t.Helper()
	e, err := UnmarshalEntity(raw)
	if err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	return e
}

// batchFile is a recorded History $batch request.
type batchFile struct {
	Description  string `json:"description"`
	WireIndex    int    `json:"wire_index"`
	Table        string `json:"table"`
	PartitionKey string `json:"PartitionKey"`
	Parsed       []struct {
		Method    string            `json:"method"`
		Headers   map[string]string `json:"headers"`
		RowKey    string            `json:"RowKey"`
		EntityRaw string            `json:"entity_raw"`
	} `json:"parsed"`
	name string
}

func loadBatches(t testing.TB) []*batchFile {
	t.Helper()
	files, err := filepath.Glob(csharpTables + "/batches/[0-9]*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no batch files: %v", err)
	}
	var out []*batchFile
	for _, f := range files {
		b := &batchFile{name: filepath.Base(f)}
		readJSON(t, f, b)
		out = append(out, b)
	}
	return out
}

// blobText returns the gunzipped content of a recorded large-message blob,
// checked against its recorded SHA-256.
func blobText(t testing.TB, container, name string) string {
	t.Helper()
	var blob struct {
		Base64        string `json:"base64"`
		ContentSHA256 string `json:"content_sha256"`
	}
	readJSON(t, "../testdata/csharp/blobs/"+container+"/"+strings.ReplaceAll(name, "/", "__")+".json", &blob)
	gz, err := base64.StdEncoding.DecodeString(blob.Base64)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != blob.ContentSHA256 {
		t.Fatalf("blob %s: content hash mismatch", name)
	}
	return string(data)
}

var blobRandom = regexp.MustCompile(`-([0-9A-F]{8})-[A-Za-z]+\.json\.gz$`)

// randomOf returns a random source that replays the random parts of the
// given blob names, in order.
func randomOf(t testing.TB, refs []LargeValue) func() uint32 {
	var vals []uint32
	for _, r := range refs {
		m := blobRandom.FindStringSubmatch(r.BlobName)
		if m == nil {
			t.Fatalf("blob name %q has no random part", r.BlobName)
		}
		n, _ := strconv.ParseUint(m[1], 16, 32)
		vals = append(vals, uint32(n))
	}
	return func() uint32 {
		if len(vals) == 0 {
			t.Fatal("unexpected call for a random number")
		}
		v := vals[0]
		vals = vals[1:]
		return v
	}
}

// resolveFromCapture replaces every …BlobName reference of a row with the
// recorded blob's content, returning the references.
func resolveFromCapture(t testing.TB, e *Entity, container string) []LargeValue {
	refs := LargeColumnRefs(e)
	for _, r := range refs {
		ResolveLargeColumn(e, r.Column, blobText(t, container, r.BlobName))
	}
	return refs
}

// reencode decodes a History row and builds it again from the event, the
// way azdurable writes it, offloading large columns with the random parts
// of refs so that blob names match.
func reencode(t testing.TB, e *Entity, refs []LargeValue) (*Entity, []LargeValue) {
	t.Helper()
	ev, err := DecodeHistoryRow(e)
	if err != nil {
		t.Fatal(err)
	}
	seq, ok := ParseRowKey(e.RowKey)
	if !ok {
		t.Fatalf("bad row key %q", e.RowKey)
	}
	execID, _ := e.GetString("ExecutionId")
	row := HistoryRow(UnescapePartitionKey(e.PartitionKey), execID, seq, ev)
	up, err := OffloadLargeColumns(row, randomOf(t, refs))
	if err != nil {
		t.Fatal(err)
	}
	if len(up) != len(refs) {
		t.Fatalf("row %s: %d uploads, capture has %d blobs", e.RowKey, len(up), len(refs))
	}
	return row, up
}
