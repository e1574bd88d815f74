package durable_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/history"
)

// A 10 MiB input takes the orchestration's typed wrapper a long time to
// decode under -race on a busy machine (seconds on two loaded cores),
// and the output is encoded again. That is slow code, not blocked code:
// with a deadlock timeout far shorter than the decoding, the instance
// completes.
func TestBigInputIsNoDeadlock(t *testing.T) {
	raw := make([]byte, 15<<19) // 10 MiB once in base64
	_, _ = rand.Read(raw)
	in := base64.StdEncoding.EncodeToString(raw)
	orch := durable.NewOrchestration("BigInput", func(ctx durable.Context, s string) (string, error) {
		return strconv.Itoa(len(s)), nil
	})
	s := sim(t, orch, "BigInput")
	s.Options.DeadlockTimeout = 5 * time.Millisecond
	b, _ := json.Marshal(in)
	s.Start(str(string(b)))
	c := s.Run()
	if c.Status != history.StatusCompleted || *c.Output != strconv.Quote(strconv.Itoa(len(in))) {
		t.Fatalf("completion %s %v", c.Status, *c.Output)
	}
}
