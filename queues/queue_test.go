package queues

import (
	"bytes"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"

	"github.com/azdurable/azdurable/internal/taskhub"
)

// TestSendReceiveDelete: messages arrive with their text, a first dequeue
// count, times and a pop receipt that deletes them; TTL is "never".
func TestSendReceiveDelete(t *testing.T) {
	t.Parallel()
	h := newHubEnv(t)
	q := h.queue(t)
	ctx := t.Context()
	texts := []string{`{"n":1}`, `{"n":2}`, `{"n":3,"s":"Ünïcödé <&>"}`}
	for _, text := range texts {
		s, err := q.Send(ctx, text, 0)
		if err != nil {
			t.Fatal(err)
		}
		if s.ID == "" || s.PopReceipt == "" || s.InsertionTime.IsZero() || s.NextVisible.Before(s.InsertionTime) {
			t.Fatalf("Sent = %+v", s)
		}
	}
	if n, err := q.ApproximateCount(ctx); err != nil || n != 3 {
		t.Fatalf("ApproximateCount = %d, %v; want 3", n, err)
	}
	peeked, err := q.Peek(ctx, MaxBatch)
	if err != nil || len(peeked) != 3 || peeked[0].PopReceipt != "" {
		t.Fatalf("Peek = %d messages, %v", len(peeked), err)
	}
	// C# sends messagettl=-1; the service then reports the maximum expiry.
	raw, err := h.svc.NewQueueClient(q.Name()).PeekMessages(ctx, &azqueue.PeekMessagesOptions{NumberOfMessages: to.Ptr(int32(1))})
	if err != nil {
		t.Fatal(err)
	}
	if exp := raw.Messages[0].ExpirationTime; exp == nil || exp.Year() != 9999 {
		t.Errorf("expiration = %v, want year 9999 (TTL -1)", exp)
	}

	before := time.Now()
	msgs, err := q.Receive(ctx, MaxBatch, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range msgs {
		got = append(got, m.Text)
		if m.DequeueCount != 1 || m.PopReceipt == "" || m.InsertionTime.IsZero() {
			t.Errorf("message %+v", m)
		}
		// 5 minutes from the receive, give or take clock skew.
		if d := m.NextVisible.Sub(before); d < 4*time.Minute || d > 6*time.Minute {
			t.Errorf("NextVisible is %v after the receive, want about 5 minutes", d)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, texts) {
		t.Fatalf("received %q, want %q", got, texts)
	}
	for _, m := range msgs {
		if err := q.Delete(ctx, m.ID, m.PopReceipt); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := q.ApproximateCount(ctx); err != nil || n != 0 {
		t.Fatalf("ApproximateCount after delete = %d, %v", n, err)
	}
	if err := q.Delete(ctx, msgs[0].ID, msgs[0].PopReceipt); !errors.Is(err, ErrMessageGone) {
		t.Fatalf("second delete: err = %v, want ErrMessageGone", err)
	}
}

// TestCreateAndDeleteQueue: both are idempotent, and using a deleted queue
// says so.
func TestCreateAndDeleteQueue(t *testing.T) {
	t.Parallel()
	h := newHubEnv(t)
	q := h.queue(t, 0)
	ctx := t.Context()
	if err := q.Create(ctx); err != nil {
		t.Fatalf("second Create: %v", err)
	}
	// A queue created by someone else with metadata answers 409
	// QueueAlreadyExists to a plain create; that is still success.
	other := NewQueue(h.svc, h.names.ControlQueue(1), nil)
	if _, err := h.svc.NewQueueClient(other.Name()).Create(ctx, &azqueue.CreateOptions{Metadata: map[string]*string{"owner": to.Ptr("x")}}); err != nil {
		t.Fatal(err)
	}
	if err := other.Create(ctx); err != nil {
		t.Fatalf("Create of a queue with metadata: %v", err)
	}
	if err := q.DeleteQueue(ctx); err != nil {
		t.Fatal(err)
	}
	if err := q.DeleteQueue(ctx); err != nil {
		t.Fatalf("second DeleteQueue: %v", err)
	}
	if _, err := q.Send(ctx, "{}", 0); !errors.Is(err, ErrQueueNotFound) {
		t.Fatalf("Send to a deleted queue: err = %v, want ErrQueueNotFound", err)
	}
}

// TestVisibilityDelay: a delayed message is invisible at once and visible
// later; the delay is truncated to whole seconds as C# sends it.
func TestVisibilityDelay(t *testing.T) {
	t.Parallel()
	h := newHubEnv(t)
	q := h.queue(t)
	s, err := q.Send(t.Context(), `{"timer":true}`, 2900*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if d := s.NextVisible.Sub(s.InsertionTime); d != 2*time.Second {
		t.Errorf("NextVisible - InsertionTime = %v, want 2s (2.9 s truncated)", d)
	}
	mustBeHidden(t, q, s.NextVisible, "right after a delayed send")
	msgs := receiveWithin(t, q, 2*time.Minute, time.Minute, "the delayed message")
	if len(msgs) != 1 || msgs[0].ID != s.ID {
		t.Fatalf("received %d messages", len(msgs))
	}
	// A negative delay means none.
	if _, err := q.Send(t.Context(), `{"late":true}`, -time.Hour); err != nil {
		t.Fatal(err)
	}
	if msgs, err := q.Receive(t.Context(), 1, time.Minute); err != nil || len(msgs) != 1 {
		t.Fatalf("negative delay: received %d, %v", len(msgs), err)
	}
}

// TestSendHidden: a hidden message is invisible, wakes no poller, and the
// pop receipt of the send renews and deletes it like a received one's.
func TestSendHidden(t *testing.T) {
	t.Parallel()
	h := newHubEnv(t)
	q := h.queue(t)
	ctx := t.Context()
	wake := h.wake.C(q.Name())
	s, err := q.SendHidden(ctx, `{"held":1}`, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-wake:
		t.Fatal("a hidden send woke the queue's pollers")
	default:
	}
	if s.PopReceipt == "" || s.NextVisible.Sub(s.InsertionTime) != time.Minute {
		t.Fatalf("Sent = %+v, want a pop receipt and a minute of invisibility", s)
	}
	mustBeHidden(t, q, s.NextVisible, "after a hidden send")
	pop, next, err := q.UpdateVisibility(ctx, s.ID, s.PopReceipt, `{"held":1}`, 2*time.Minute)
	if err != nil || !next.After(s.NextVisible) {
		t.Fatalf("renewing with the send's pop receipt: %v (next visible %v)", err, next)
	}
	if err := q.Delete(ctx, s.ID, s.PopReceipt); !errors.Is(err, ErrMessageGone) {
		t.Fatalf("delete with the replaced pop receipt: err = %v, want ErrMessageGone", err)
	}
	if err := q.Delete(ctx, s.ID, pop); err != nil {
		t.Fatalf("delete with the renewed pop receipt: %v", err)
	}
	if n, err := q.ApproximateCount(ctx); err != nil || n != 0 {
		t.Fatalf("ApproximateCount after delete = %d, %v", n, err)
	}
	if _, err := q.SendHidden(ctx, "{}", 0); err == nil {
		t.Fatal("a hidden send without visibility was accepted")
	}
}

// TestSendQuiet: a quiet send is visible at once but wakes no poller.
func TestSendQuiet(t *testing.T) {
	t.Parallel()
	h := newHubEnv(t)
	q := h.queue(t)
	wake := h.wake.C(q.Name())
	if _, err := q.SendQuiet(t.Context(), `{"quiet":1}`, 0); err != nil {
		t.Fatal(err)
	}
	select {
	case <-wake:
		t.Fatal("a quiet send woke the queue's pollers")
	default:
	}
	if msgs, err := q.Receive(t.Context(), 1, time.Minute); err != nil || len(msgs) != 1 || msgs[0].Text != `{"quiet":1}` {
		t.Fatalf("receive after a quiet send: %d, %v", len(msgs), err)
	}
}

// TestDelayLimit: more than 7 days is refused before any request; exactly
// 7 days is what the service accepts.
func TestDelayLimit(t *testing.T) {
	t.Parallel()
	h := newHubEnv(t)
	q := h.queue(t)
	ctx := t.Context()
	before := h.requests.n.Load()
	_, err := q.Send(ctx, `{"far":true}`, taskhub.MaxVisibilityDelay+time.Second)
	if err == nil || !strings.Contains(err.Error(), "7 days") || !strings.Contains(err.Error(), q.Name()) {
		t.Fatalf("err = %v, want a refusal naming the 7-day limit and the queue", err)
	}
	if sent := h.requests.n.Load() - before; sent != 0 {
		t.Fatalf("%d requests were sent for a refused message", sent)
	}
	if n, err := q.ApproximateCount(ctx); err != nil || n != 0 {
		t.Fatalf("queue holds %d messages (%v) after a refused send", n, err)
	}
	if _, err := q.Send(ctx, `{"max":true}`, taskhub.MaxVisibilityDelay); err != nil {
		t.Fatalf("a delay of exactly 7 days: %v", err)
	}
}

// TestSendRefusesBadText: oversized text and characters XML cannot carry
// are refused before a request, instead of being altered on the wire.
func TestSendRefusesBadText(t *testing.T) {
	t.Parallel()
	h := newHubEnv(t)
	q := h.queue(t)
	before := h.requests.n.Load()
	for name, text := range map[string]string{
		"too large":    strings.Repeat("x", MaxMessageBytes+1),
		"control char": "{\"a\":\"\x01\"}",
		"bad utf-8":    "{\"a\":\"\xff\"}",
	} {
		if _, err := q.Send(t.Context(), text, 0); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if sent := h.requests.n.Load() - before; sent != 0 {
		t.Fatalf("%d requests were sent for refused messages", sent)
	}
}

// TestAbandon: an abandoned first delivery is back after 2 s with
// DequeueCount 2 and its text intact (the SDK always sends a body, so the
// original text must be passed back).
func TestAbandon(t *testing.T) {
	t.Parallel()
	h := newHubEnv(t)
	q := h.queue(t)
	ctx := t.Context()
	const text = `{"abandon":"me"}`
	if _, err := q.Send(ctx, text, 0); err != nil {
		t.Fatal(err)
	}
	msgs, err := q.Receive(ctx, 1, 5*time.Minute)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("receive: %d, %v", len(msgs), err)
	}
	m := msgs[0]
	oldPop := m.PopReceipt
	if err := q.Abandon(ctx, m); err != nil {
		t.Fatal(err)
	}
	if m.PopReceipt == oldPop || m.PopReceipt == "" {
		t.Error("Abandon did not update the pop receipt")
	}
	if d := time.Until(m.NextVisible); d > 3*time.Second {
		t.Errorf("visible again in %v, want about 2 s", d)
	}
	mustBeHidden(t, q, m.NextVisible, "right after the abandon")
	again := receiveWithin(t, q, 2*time.Minute, 5*time.Minute, "the abandoned message")
	if len(again) != 1 || again[0].ID != m.ID || again[0].DequeueCount != 2 || again[0].Text != text {
		t.Fatalf("redelivery = %+v, want the same message, DequeueCount 2, text unchanged", again[0])
	}
}

// TestAbandonPoison: from a 600 s delay on, Abandon warns about a poison
// message but keeps it (hidden for 10 minutes).
func TestAbandonPoison(t *testing.T) {
	t.Parallel()
	h := newHubEnv(t)
	var logs bytes.Buffer
	q := NewQueue(h.svc, h.names.WorkItemQueue(), &QueueOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx := t.Context()
	if err := q.Create(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Send(ctx, `{"poison":true}`, 0); err != nil {
		t.Fatal(err)
	}
	msgs, err := q.Receive(ctx, 1, time.Minute)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("receive: %d, %v", len(msgs), err)
	}
	m := msgs[0]
	if err := q.Abandon(ctx, m); err != nil { // DequeueCount 1: 2 s, no warning
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "poison") {
		t.Fatalf("first abandon logged poison: %s", logs.String())
	}
	m.DequeueCount = 10 // as if it had failed ten times
	if err := q.Abandon(ctx, m); err != nil {
		t.Fatal(err)
	}
	if out := logs.String(); !strings.Contains(out, "poison message") || !strings.Contains(out, m.ID) || strings.Contains(out, "poison\":true") {
		t.Fatalf("log = %q, want a poison warning naming the message id but not its text", out)
	}
	if d := time.Until(m.NextVisible); d < 9*time.Minute {
		t.Errorf("poison message visible again in %v, want 10 minutes", d)
	}
	if n, err := q.ApproximateCount(ctx); err != nil || n != 1 {
		t.Fatalf("ApproximateCount = %d, %v; a poison message must never be deleted", n, err)
	}
}

// TestRenewAndStalePopReceipt: UpdateVisibility extends a message's
// invisibility past its original timeout, and the pop receipt it replaced
// no longer deletes.
func TestRenewAndStalePopReceipt(t *testing.T) {
	t.Parallel()
	h := newHubEnv(t)
	q := h.queue(t)
	ctx := t.Context()
	const text = `{"renew":"me"}`
	if _, err := q.Send(ctx, text, 0); err != nil {
		t.Fatal(err)
	}
	msgs, err := q.Receive(ctx, 1, 2*time.Second)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("receive: %d, %v", len(msgs), err)
	}
	m := msgs[0]
	newPop, next, err := q.UpdateVisibility(ctx, m.ID, m.PopReceipt, m.Text, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if newPop == m.PopReceipt || time.Until(next) < 50*time.Second {
		t.Fatalf("renewal: pop changed %v, visible in %v", newPop != m.PopReceipt, time.Until(next))
	}
	// A marker sent now with a 3 s delay becomes visible after the original
	// 2 s timeout has passed: when it is received, the renewed message must
	// still be hidden.
	marker, err := q.Send(ctx, `{"marker":true}`, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	got := receiveWithin(t, q, 2*time.Minute, time.Minute, "the marker")
	for _, g := range got {
		if g.ID == m.ID {
			t.Fatal("the renewed message became visible at its original timeout")
		}
	}
	if len(got) != 1 || got[0].ID != marker.ID {
		t.Fatalf("received %d messages, want the marker", len(got))
	}
	err = q.Delete(ctx, m.ID, m.PopReceipt)
	if !errors.Is(err, ErrMessageGone) || !strings.Contains(err.Error(), "PopReceiptMismatch") {
		t.Fatalf("delete with the replaced pop receipt: err = %v, want ErrMessageGone (PopReceiptMismatch)", err)
	}
	if _, _, err := q.UpdateVisibility(ctx, m.ID, m.PopReceipt, m.Text, 0); !errors.Is(err, ErrMessageGone) {
		t.Fatalf("update with the replaced pop receipt: err = %v, want ErrMessageGone", err)
	}
	if err := q.Delete(ctx, m.ID, newPop); err != nil {
		t.Fatalf("delete with the current pop receipt: %v", err)
	}
}

// TestRedeliveredPopReceipt: after a message's timeout expires and someone
// else receives it, the first receiver's pop receipt is gone.
func TestRedeliveredPopReceipt(t *testing.T) {
	t.Parallel()
	h := newHubEnv(t)
	q := h.queue(t)
	ctx := t.Context()
	if _, err := q.Send(ctx, `{"x":1}`, 0); err != nil {
		t.Fatal(err)
	}
	first, err := q.Receive(ctx, 1, time.Second)
	if err != nil || len(first) != 1 {
		t.Fatalf("receive: %d, %v", len(first), err)
	}
	second := receiveWithin(t, q, 2*time.Minute, time.Minute, "the redelivery")
	if second[0].ID != first[0].ID || second[0].DequeueCount != 2 {
		t.Fatalf("redelivery %+v", second[0])
	}
	if err := q.Delete(ctx, first[0].ID, first[0].PopReceipt); !errors.Is(err, ErrMessageGone) {
		t.Fatalf("err = %v, want ErrMessageGone", err)
	}
}

// TestReceiveArguments: out-of-range batch sizes and timeouts are refused
// without a request.
func TestReceiveArguments(t *testing.T) {
	t.Parallel()
	h := newHubEnv(t)
	q := NewQueue(h.svc, h.names.WorkItemQueue(), nil)
	before := h.requests.n.Load()
	for _, c := range []struct {
		n   int
		vis time.Duration
	}{{0, time.Minute}, {33, time.Minute}, {1, 0}, {1, 500 * time.Millisecond}, {1, taskhub.MaxVisibilityDelay + time.Second}} {
		if _, err := q.Receive(t.Context(), c.n, c.vis); err == nil {
			t.Errorf("Receive(%d, %v) accepted", c.n, c.vis)
		}
	}
	if _, err := q.Peek(t.Context(), 0); err == nil {
		t.Error("Peek(0) accepted")
	}
	if sent := h.requests.n.Load() - before; sent != 0 {
		t.Fatalf("%d requests sent", sent)
	}
}
