package partition

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Lease bodies and taskhub.json are written byte for byte as the vectors
// (Newtonsoft defaults: nulls written, member order, round-trip dates).
func TestBlobBodiesMatchVectors(t *testing.T) {
	v := leaseVectors(t)
	for _, name := range []string{"leaseBlobBodyAsCreated", "leaseBlobBodyOwned", "leaseBlobBodyAfterRelease"} {
		want := compact(t, v[name])
		var b LeaseBody
		if err := json.Unmarshal(want, &b); err != nil {
			t.Fatal(err)
		}
		got, _ := json.Marshal(b)
		if string(got) != string(want) {
			t.Errorf("%s:\n got  %s\n want %s", name, got, want)
		}
	}
	want := compact(t, v["taskhubJson"])
	var info TaskHubInfo
	if err := json.Unmarshal(want, &info); err != nil {
		t.Fatal(err)
	}
	if info.TaskHubName != "MyHub" || info.PartitionCount != 4 || info.CreatedAt.Nanosecond() != 992143200 {
		t.Errorf("decoded %+v", info)
	}
	if got, _ := json.Marshal(info); string(got) != string(want) {
		t.Errorf("taskhub.json:\n got  %s\n want %s", got, want)
	}
	// Newtonsoft drops trailing zeros of the fraction.
	info.CreatedAt = time.Date(2024, 5, 1, 11, 59, 57, 500000000, time.UTC)
	if got, _ := json.Marshal(info); !strings.Contains(string(got), `"CreatedAt":"2024-05-01T11:59:57.5Z"`) {
		t.Errorf("short fraction: %s", got)
	}
}

func TestLeaseBodyReadsLikeNewtonsoft(t *testing.T) {
	var b LeaseBody
	if err := b.UnmarshalJSON([]byte("\ufeff" + `{"partitionid":"q","OWNER":"w","Token":"t","Epoch":"7","Extra":1}`)); err != nil {
		t.Fatal(err)
	}
	if b != (LeaseBody{PartitionID: "q", Owner: "w", Token: "t", Epoch: 7}) {
		t.Errorf("decoded %+v", b)
	}
	if err := json.Unmarshal([]byte(`{"PartitionId":"q","Epoch":{}}`), &b); err == nil {
		t.Error("an object Epoch decoded")
	}
}

func leases(spec string) []BlobLease {
	// spec: one entry per partition, "-" available, "owner" leased by owner,
	// "owner!" leased but released (no owner in the body).
	var out []BlobLease
	for i, s := range strings.Fields(spec) {
		l := BlobLease{LeaseBody: LeaseBody{PartitionID: fmt.Sprintf("q%d", i), Token: "tok"}, Leased: s != "-"}
		if s != "-" && !strings.HasSuffix(s, "!") {
			l.Owner = s
		}
		out = append(out, l)
	}
	return out
}

func names(ls []BlobLease) string {
	var s []string
	for _, l := range ls {
		s = append(s, l.PartitionID)
	}
	return strings.Join(s, ",")
}

func TestBalanceLeases(t *testing.T) {
	for _, tc := range []struct {
		spec, me     string
		steal        bool
		take, victim string
	}{
		{"- - - - - - - -", "a", true, "q0,q1,q2,q3,q4,q5,q6,q7", ""}, // alone: target is all of them
		{"a a a a a a a a", "b", true, "", "q0"},                      // steal one at a time
		{"a a a a b b b b", "b", true, "", ""},                        // balanced
		{"a a a b b b c c", "c", true, "", ""},                        // 3/3/2: target 3, needed 1, busiest 3 is not > 3
		{"a a a a b b c c", "c", true, "", "q0"},                      // 4/2/2: steal from the busiest
		{"a a a b b b - -", "c", true, "q6,q7", ""},                   // free leases first, up to the need
		{"a a a b b b - x!", "c", true, "q6,q7", ""},                  // a released body counts as available
		{"a a a b b - - -", "a", true, "q5", ""},                      // target 4 of 8 for two workers
		{"a a a a b b - -", "a", true, "", ""},                        // enough already
		{"a - b - c -", "b", false, "q1,q3,q5", ""},                   // no stealing: every available one
		{"a a", "b", false, "", ""},
		{"A a", "a", true, "", ""}, // my own id in another case is mine
	} {
		take, victim := balanceLeases(leases(tc.spec), tc.me, tc.steal)
		v := ""
		if victim != nil {
			v = victim.PartitionID
		}
		if names(take) != tc.take || v != tc.victim {
			t.Errorf("%q as %s (steal %v): take %q victim %q, want %q %q", tc.spec, tc.me, tc.steal, names(take), v, tc.take, tc.victim)
		}
	}
}

func TestRenewEvery(t *testing.T) {
	if got := renewEvery(15*time.Second, 10*time.Second, 5*time.Second); got != 5*time.Second {
		t.Errorf("ownership defaults renew every %v", got)
	}
	if got := renewEvery(30*time.Second, 10*time.Second, 5*time.Second); got != 10*time.Second {
		t.Errorf("intent defaults renew every %v", got)
	}
}
