package partition

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/internal/taskhub"
)

// kindSequence names each write of one partition in order: insert, claim
// (the first replace), renew, drain (IsDraining true), release (no owner),
// with runs of renewals collapsed.
func kindSequence(bodies []Row, methods []string) []string {
	var out []string
	for i, r := range bodies {
		k := "renew"
		switch {
		case methods[i] == "POST":
			k = "insert"
		case len(out) == 1:
			k = "claim"
		case r.CurrentOwner == "":
			k = "release"
		case r.IsDraining:
			k = "drain"
		}
		if len(out) == 0 || out[len(out)-1] != k || k != "renew" {
			out = append(out, k)
		}
	}
	return out
}

func sortedMembers(ms []member) []member {
	out := slices.Clone(ms)
	slices.SortFunc(out, func(a, b member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// One Go manager runs a hub through create, claim, renewals and a graceful
// stop, with a recorder on its pipeline. Every request it sent to the
// Partitions table is compared with the C# recording of the same kind of
// write: the same URL form and conditions, the same columns with the same
// EDM types and formats (times, ETags and worker ids normalised; column
// order is not comparable on the wire because aztables re-marshals the
// entity as a map and sends its keys sorted, so the order is checked on the
// encoder's output by TestRowEncodingMatchesCSharpBodies instead), no
// nulls, and per partition the same sequence of write kinds. The stored
// rows have the columns of C#'s stored rows.
func TestTableManagerWritesMatchCSharp(t *testing.T) {
	acct := azuritetest.Account(t)
	names := taskhub.MustNames(azuritetest.NewHub(t))
	rec := &recorder{filter: names.PartitionsTable()}
	m, err := NewTableManager(acct, names.TaskHub(), fastTable("go-w", 4, rec))
	if err != nil {
		t.Fatal(err)
	}
	tl := &timeline{}
	if err := m.Start(t.Context(), tl.listener("go-w")); err != nil {
		t.Fatal(err)
	}
	renewed := func() (bool, error) {
		n := map[string]int{}
		for _, c := range rec.snapshot() {
			if c.method == "PUT" && c.status/100 == 2 {
				n[c.path]++
			}
		}
		for _, c := range n {
			if c < 2 {
				return false, nil
			}
		}
		return len(n) == 4, nil
	}
	azuritetest.WaitFor(t, 3*time.Minute, "a claim and a renewal of every partition", renewed)
	stopWithin(t, m, 2*time.Minute)

	// Go's writes, per partition.
	type write struct {
		method string
		row    Row
		body   []member
	}
	goWrites := map[string][]write{}
	for _, c := range rec.snapshot() {
		if c.method != "POST" && c.method != "PUT" {
			continue
		}
		if c.status/100 != 2 {
			t.Fatalf("%s %s failed with %d", c.method, c.path, c.status)
		}
		var r Row
		if err := json.Unmarshal(c.body, &r); err != nil {
			t.Fatal(err)
		}
		body := members(t, c.body)
		if len(withoutNulls(body)) != len(body) {
			t.Errorf("%s body with nulls: %s", c.method, c.body)
		}
		switch c.method {
		case "POST":
			if c.ifMatch != "" || !strings.HasSuffix(c.path, "/"+names.PartitionsTable()) {
				t.Errorf("insert to %s with If-Match %q", c.path, c.ifMatch)
			}
		case "PUT":
			want := "/" + names.PartitionsTable() + "(PartitionKey='',RowKey='" + r.Partition + "')"
			if p, _ := url.PathUnescape(c.path); !strings.HasSuffix(p, want) {
				t.Errorf("replace path %s, want …%s", p, want)
			}
			if !strings.HasPrefix(c.ifMatch, `W/"datetime'`) {
				t.Errorf("replace of %s with If-Match %q", r.Partition, c.ifMatch)
			}
		}
		goWrites[r.Partition] = append(goWrites[r.Partition], write{c.method, r, body})
	}

	// C#'s writes of the same kinds, from one partition of the capture.
	csByKind := map[string][]member{}
	var csSeq []string
	{
		var rows []Row
		var methods []string
		var bodies [][]member
		for _, w := range csPartitionWrites(t)["CsHubPartitions"] {
			var r Row
			if err := json.Unmarshal([]byte(w.BodyRaw), &r); err != nil {
				t.Fatal(err)
			}
			if r.Partition != "cshub-control-00" {
				continue
			}
			if !strings.Contains(w.URL, "CsHubPartitions") || (w.Method == "PUT" && !strings.Contains(w.URL, "(PartitionKey='',RowKey='cshub-control-00')")) {
				t.Fatalf("unexpected C# URL %s", w.URL)
			}
			rows, methods, bodies = append(rows, r), append(methods, w.Method), append(bodies, withoutNulls(members(t, []byte(w.BodyRaw))))
		}
		kinds := kindSequence(rows, methods)
		csSeq = kinds
		// Map every write to its kind again (without collapsing) to pick one example each.
		for i := range rows {
			k := kindSequence(rows[:i+1], methods[:i+1])
			csByKind[k[len(k)-1]] = bodies[i]
		}
	}
	if !slices.Equal(csSeq, []string{"insert", "claim", "renew", "drain", "release"}) {
		t.Fatalf("C# sequence %v", csSeq)
	}

	owners := map[string]string{"go-w": "cscapture-worker"}
	for _, p := range names.ControlQueues(4) {
		ws := goWrites[p]
		var rows []Row
		var methods []string
		for _, w := range ws {
			rows, methods = append(rows, w.row), append(methods, w.method)
		}
		if seq := kindSequence(rows, methods); !slices.Equal(seq, csSeq) {
			t.Errorf("%s: Go wrote %v, C# wrote %v", p, seq, csSeq)
			continue
		}
		for i, w := range ws {
			k := kindSequence(rows[:i+1], methods[:i+1])
			kind := k[len(k)-1]
			if err := sameShape(sortedMembers(w.body), sortedMembers(csByKind[kind]), norm{Tol: time.Duration(1 << 62), Owners: owners, AnyQueue: true}); err != nil {
				t.Errorf("%s %s: %v", p, kind, err)
			}
			if kind == "release" {
				drain := ws[i-1].row
				if !w.row.LastRenewal.Equal(drain.LastRenewal) || !w.row.ExpiresAt.Equal(drain.ExpiresAt) || w.row.NextOwner != drain.NextOwner {
					t.Errorf("%s: the release renewed or changed the row: %+v after %+v", p, w.row, drain)
				}
			}
			if kind == "claim" || kind == "renew" || kind == "drain" {
				if d := w.row.ExpiresAt.Sub(w.row.LastRenewal); d != 8*time.Second {
					t.Errorf("%s %s: ExpiresAt − LastRenewal = %v, want the lease interval", p, kind, d)
				}
			}
		}
	}

	// The stored rows: the columns C#'s stored rows have.
	svc, err := acct.TableService(nil)
	if err != nil {
		t.Fatal(err)
	}
	var final struct {
		ResponseRaw []string `json:"response_raw"`
	}
	if err := json.Unmarshal(readTestdata(t, "csharp/tables/final/CsHub/Partitions.json"), &final); err != nil {
		t.Fatal(err)
	}
	var csStored struct{ Value []json.RawMessage }
	if err := json.Unmarshal([]byte(final.ResponseRaw[0]), &csStored); err != nil {
		t.Fatal(err)
	}
	columns := func(raw []byte) string {
		var s []string
		for _, m := range members(t, raw) {
			if m.Name != "odata.etag" && m.Name != "Timestamp" {
				s = append(s, m.Name)
			}
		}
		slices.Sort(s)
		return strings.Join(s, ",")
	}
	want := columns(csStored.Value[0])
	pager := svc.NewClient(names.PartitionsTable()).NewListEntitiesPager(nil)
	n := 0
	for pager.More() {
		page, err := pager.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Entities {
			if got := columns(e); got != want {
				t.Errorf("stored row columns %s, C# stored %s", got, want)
			}
			n++
		}
	}
	if n != 4 {
		t.Errorf("%d stored rows", n)
	}
	if c, err := CountRows(t.Context(), svc, names.TaskHub()); err != nil || c != 4 {
		t.Errorf("CountRows = %d, %v", c, err)
	}
}
