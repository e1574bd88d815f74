package azurestorage

import (
	"testing"

	"github.com/azdurable/azdurable/internal/azuritetest"
)

// TestSendsWakeOtherBackendsOfTheProcess: a message one backend sends (here
// a client's) ends the back-off of another backend's poller of that queue
// in the same process, and not that of a poller of another hub.
func TestSendsWakeOtherBackendsOfTheProcess(t *testing.T) {
	acct := azuritetest.Account(t)
	hub, other := azuritetest.NewHub(t), azuritetest.NewHub(t)
	client, err := New(Options{TaskHub: hub, Account: acct, Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	worker, err := New(Options{TaskHub: hub, Account: acct, Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := New(Options{TaskHub: other, Account: acct, Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.CreateTaskHub(t.Context()); err != nil {
		t.Fatal(err)
	}
	woken := worker.wake.C(worker.control[0].Name())
	unrelated := stranger.wake.C(stranger.control[0].Name())
	if _, err := client.control[0].Send(t.Context(), "{}", 0); err != nil {
		t.Fatal(err)
	}
	select {
	case <-woken:
	default:
		t.Fatal("the worker's poller of the queue was not woken by the client's send")
	}
	select {
	case <-unrelated:
		t.Fatal("a poller of another hub was woken")
	default:
	}
}
