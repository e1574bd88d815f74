package taskhub

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestPartitionHashVectors(t *testing.T) {
	var v struct {
		TaskHub string
		Vectors []struct {
			InstanceID     string
			Fnv1a32        uint32
			PartitionCount int
			PartitionIndex int
			ControlQueue   string
		}
	}
	readJSON(t, filepath.Join(testdata, "partition-hash.json"), &v)
	if len(v.Vectors) < 10 {
		t.Fatalf("%d vectors", len(v.Vectors))
	}
	names := MustNames(v.TaskHub)
	for _, c := range v.Vectors {
		if got := Hash(c.InstanceID); got != c.Fnv1a32 {
			t.Errorf("Hash(%q) = %d, want %d", c.InstanceID, got, c.Fnv1a32)
		}
		if got := PartitionIndex(c.InstanceID, c.PartitionCount); got != c.PartitionIndex {
			t.Errorf("PartitionIndex(%q, %d) = %d, want %d", c.InstanceID, c.PartitionCount, got, c.PartitionIndex)
		}
		if got := names.ControlQueueFor(c.InstanceID, c.PartitionCount); got != c.ControlQueue {
			t.Errorf("ControlQueueFor(%q) = %s, want %s", c.InstanceID, got, c.ControlQueue)
		}
	}
}

func TestNamingVectors(t *testing.T) {
	var v struct {
		Fnv1a32 []struct {
			Input               string
			Hash                uint32
			PartitionIndexFor4  int
			PartitionIndexFor16 int
			ControlQueueFor4    string
		}
		Names struct {
			TaskHub               string
			HistoryTable          string
			InstancesTable        string
			PartitionsTable       string
			ControlQueues         []string
			WorkItemQueue         string
			LargeMessageContainer string
			LeaseContainer        string
			AppLeaseContainer     string
			AppLeaseInfoBlob      string
		}
	}
	readJSON(t, filepath.Join(testdata, "azstorage-naming-and-hashing.json"), &v)
	n := MustNames(v.Names.TaskHub)
	for _, c := range v.Fnv1a32 {
		if Hash(c.Input) != c.Hash || PartitionIndex(c.Input, 4) != c.PartitionIndexFor4 ||
			PartitionIndex(c.Input, 16) != c.PartitionIndexFor16 || n.ControlQueueFor(c.Input, 4) != c.ControlQueueFor4 {
			t.Errorf("hash vector %q", c.Input)
		}
	}
	got := []string{n.HistoryTable(), n.InstancesTable(), n.PartitionsTable(), n.WorkItemQueue(),
		n.LargeMessagesContainer(), n.LeasesContainer(), n.AppLeaseContainer(), n.AppLeaseInfoBlob(),
		strings.Join(n.ControlQueues(4), ",")}
	want := []string{v.Names.HistoryTable, v.Names.InstancesTable, v.Names.PartitionsTable, v.Names.WorkItemQueue,
		v.Names.LargeMessageContainer, v.Names.LeaseContainer, v.Names.AppLeaseContainer, v.Names.AppLeaseInfoBlob,
		strings.Join(v.Names.ControlQueues, ",")}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("name %d = %q, want %q", i, got[i], want[i])
		}
	}
	if n.ControlQueue(15) != "myhub-control-15" {
		t.Errorf("ControlQueue(15) = %s", n.ControlQueue(15))
	}
}

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"abc", "MyHub", "H1b2", strings.Repeat("a", 45), "CsHubB64"} {
		if err := ValidateName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for name, wantReason := range map[string]string{
		"":                      "empty",
		"ab":                    "has 2 characters",
		strings.Repeat("a", 46): "has 46 characters",
		"1hub":                  "must start with a letter",
		"my-hub":                "only ASCII letters and digits",
		"my_hub":                "only ASCII letters and digits",
		"hübx":                  "only ASCII letters and digits",
		"hub name":              "only ASCII letters and digits",
	} {
		err := ValidateName(name)
		var ine *InvalidNameError
		if !errors.As(err, &ine) {
			t.Errorf("%q: error %v, want *InvalidNameError", name, err)
			continue
		}
		if !strings.Contains(err.Error(), wantReason) {
			t.Errorf("%q: %q does not say %q", name, err, wantReason)
		}
	}
	if _, err := NewNames("bad-name"); err == nil {
		t.Error("NewNames accepted an invalid name")
	}
}

func TestPartitionCount(t *testing.T) {
	for n := -1; n <= 17; n++ {
		err := ValidatePartitionCount(n)
		if (n >= 1 && n <= 16) != (err == nil) {
			t.Errorf("ValidatePartitionCount(%d) = %v", n, err)
		}
	}
}
