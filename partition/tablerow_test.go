package partition

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// The encoder writes exactly the hand-made vector rows (member order, EDM
// annotations, 7 fraction digits), and the decoder reads them back.
func TestRowEncodingMatchesVectors(t *testing.T) {
	v := leaseVectors(t)
	for _, name := range []string{"rowAsCreated", "rowOwned", "rowStealRequested", "rowDraining", "rowReleasedToThief", "rowClaimedByThief"} {
		t.Run(name, func(t *testing.T) {
			want := compact(t, v["v3."+name])
			var r Row
			if err := json.Unmarshal(want, &r); err != nil {
				t.Fatal(err)
			}
			got, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("encoded row differs:\n got  %s\n want %s", got, want)
			}
		})
	}
}

// Every C# insert and replace body, with its explicit nulls removed, is
// what the encoder produces for the decoded row: same columns in the same
// order, same values.
func TestRowEncodingMatchesCSharpBodies(t *testing.T) {
	n := 0
	for hub, writes := range csPartitionWrites(t) {
		for _, w := range writes {
			var r Row
			if err := json.Unmarshal([]byte(w.BodyRaw), &r); err != nil {
				t.Fatalf("%s #%d: %v", hub, w.WireIndex, err)
			}
			want := withoutNulls(members(t, []byte(w.BodyRaw)))
			if err := sameShape(members(t, r.encode("")), want, norm{}); err != nil {
				t.Errorf("%s #%d (%s): %v", hub, w.WireIndex, w.Phase, err)
			}
			n++
		}
	}
	if n < 40 {
		t.Fatalf("only %d recorded writes found", n)
	}
}

// Rows as Azurite returns them (annotation before value, odata.etag,
// Timestamp, absent owner columns) decode, from the C# capture's final scan.
func TestRowDecodesServiceResponse(t *testing.T) {
	var final struct {
		ResponseRaw []string `json:"response_raw"`
	}
	if err := json.Unmarshal(readTestdata(t, "csharp/tables/final/CsHub/Partitions.json"), &final); err != nil {
		t.Fatal(err)
	}
	var resp struct {
		Value []json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal([]byte(final.ResponseRaw[0]), &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.Value) != 4 {
		t.Fatalf("%d rows, want 4", len(resp.Value))
	}
	for i, raw := range resp.Value {
		var r Row
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		if want := "cshub-control-0" + string(rune('0'+i)); r.Partition != want {
			t.Errorf("row %d: partition %q, want %q", i, r.Partition, want)
		}
		if r.CurrentOwner != "" || r.NextOwner != "" || r.IsDraining {
			t.Errorf("%s: released row decoded as %+v", r.Partition, r)
		}
		if r.OwnedSince.IsZero() || r.ExpiresAt.Sub(r.LastRenewal) < 29*time.Second || r.ExpiresAt.Sub(r.LastRenewal) > 31*time.Second {
			t.Errorf("%s: times decoded as %v / %v / %v", r.Partition, r.OwnedSince, r.LastRenewal, r.ExpiresAt)
		}
		if !strings.HasPrefix(string(r.ETag), `W/"datetime'`) {
			t.Errorf("%s: ETag %q", r.Partition, r.ETag)
		}
	}
}

func TestRowDecodeRejectsWrongTypes(t *testing.T) {
	for _, body := range []string{
		`{"RowKey":"q","CurrentOwner":5}`,
		`{"RowKey":"q","IsDraining":"yes"}`,
		`{"RowKey":"q","ExpiresAt":"tomorrow"}`,
		`[1]`,
	} {
		var r Row
		if err := json.Unmarshal([]byte(body), &r); err == nil {
			t.Errorf("%s decoded without error as %+v", body, r)
		}
	}
}
