package httpapi_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/httpapi"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/provider/azurestorage"
)

// leavingCaller is the Azure Storage backend, with a hook that runs after
// a rewind's first write: there, the test's caller goes away.
type leavingCaller struct {
	*azurestorage.Backend
	afterRewrite func()
}

func (b *leavingCaller) RewriteForRewind(ctx context.Context, h *provider.RewindHistory, rewrite, mark []int) error {
	err := b.Backend.RewriteForRewind(ctx, h, rewrite, mark)
	b.afterRewrite()
	return err
}

// Attack: a caller that hangs up (curl --max-time, a proxy's timeout, a
// closed tab) while a rewind writes. The request's context ends with the
// connection; a rewind that had rewritten the history but not yet set the
// instance Pending stopped there, leaving a Failed instance with a
// rewritten history until someone rewinds it again. A request that has
// begun to write finishes.
func TestCallerLeavesDuringRewind(t *testing.T) {
	hub, be := hubWithWorker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	reqCtx, hangUp := context.WithCancel(context.Background())
	defer hangUp()
	c := client.New(&leavingCaller{Backend: be, afterRewrite: hangUp}, client.Options{})
	h, err := httpapi.New(httpapi.Options{Client: c, TaskHub: hub, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ScheduleNew(ctx, "IndexRepositories", "nobody", client.WithInstanceID("hang-up")); err != nil {
		t.Fatal(err)
	}
	first, err := c.WaitForCompletion(ctx, "hang-up")
	if err != nil || first.Status != client.Failed {
		t.Fatalf("%+v %v", first, err)
	}
	req := httptest.NewRequestWithContext(reqCtx, "POST", base+"/instances/hang-up/rewind", nil)
	req.RemoteAddr = "127.0.0.1:1"
	h.ServeHTTP(httptest.NewRecorder(), req)
	if reqCtx.Err() == nil {
		t.Fatal("the caller did not leave")
	}
	// The rewind went through: the instance was set Pending, runs again
	// and fails again. (Reading Pending once here would race with that
	// run, which can fail again before the read: the second failure, later
	// than the first, is what shows that the rewind finished.)
	azuritetest.WaitFor(t, 3*time.Minute, "the rewound instance to run and fail again", func() (bool, error) {
		st, err := c.GetState(ctx, "hang-up")
		return err == nil && st.Status == client.Failed && st.CompletedAt.After(first.CompletedAt), nil
	})
}
