package azurestorage_test

import (
	"strings"
	"testing"

	"github.com/azdurable/azdurable/provider/azurestorage"
)

// TestHubResources: the admin API names a hub's resources as C# does and
// refuses what the task hub rules refuse.
func TestHubResources(t *testing.T) {
	r, err := azurestorage.HubResources("MyHub", 4)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(append(r.ControlQueues, r.WorkItemQueue, r.HistoryTable, r.InstancesTable, r.PartitionsTable,
		r.LargeMessagesContainer, r.LeasesContainer, r.AppLeaseContainer, r.AppLeaseInfoBlob, r.PoisonContainer), ",")
	want := "myhub-control-00,myhub-control-01,myhub-control-02,myhub-control-03,myhub-workitems," +
		"MyHubHistory,MyHubInstances,MyHubPartitions,myhub-largemessages,myhub-leases,myhub-applease,myhub-appleaseinfo,myhub-poison"
	if got != want {
		t.Errorf("resources\n got %s\nwant %s", got, want)
	}
	// C#'s FNV-1a: "hello" is 0x4f9f2cab, index 3 of 4.
	if i, q := r.ControlQueueFor("hello"); i != 3 || q != "myhub-control-03" || azurestorage.PartitionIndex("hello", 4) != 3 {
		t.Errorf("ControlQueueFor(hello) = %d %s", i, q)
	}
	for _, bad := range []struct {
		hub string
		n   int
	}{{"my-hub", 4}, {"ab", 4}, {"MyHub", 0}, {"MyHub", azurestorage.MaxPartitions + 1}} {
		if _, err := azurestorage.HubResources(bad.hub, bad.n); err == nil {
			t.Errorf("HubResources(%q, %d) accepted", bad.hub, bad.n)
		}
	}
	if azurestorage.ValidateTaskHubName("1hub") == nil || azurestorage.ValidatePartitionCount(17) == nil {
		t.Error("an invalid name or count was accepted")
	}
}
