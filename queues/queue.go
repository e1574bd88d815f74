package queues

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"

	"github.com/azdurable/azdurable/internal/taskhub"
)

// Azure Storage limits that are checked before a request is sent, so that a
// bad call fails with a clear message and nothing half-done.
const (
	// MaxBatch is the most messages one Receive can return.
	MaxBatch = taskhub.MaxReceiveBatch
	// MaxMessageBytes is the largest message text Azure accepts (64 KiB).
	MaxMessageBytes = taskhub.MaxMessageBytes
)

// poisonDelay is the abandon delay from which C# logs a message as poison.
const poisonDelay = 600 * time.Second

// ErrMessageGone means a message could not be deleted or updated with the
// pop receipt given: it was received again by someone else (the receipt is
// stale) or it was already deleted. The caller no longer holds it.
var ErrMessageGone = errors.New("queue message is gone (deleted, or received again by another consumer)")

// ErrQueueNotFound means the queue does not exist (not created yet, or
// deleted with its task hub).
var ErrQueueNotFound = errors.New("queue not found")

// Message is a received (or peeked) queue message.
type Message struct {
	// ID identifies the message; it is stable across deliveries.
	ID string
	// PopReceipt proves the current delivery; it changes with every receive
	// and visibility update. Empty for peeked messages.
	PopReceipt string
	// Text is the message body exactly as stored.
	Text string
	// DequeueCount is how many times the message has been received,
	// this delivery included.
	DequeueCount int64
	// InsertionTime is when the message was enqueued (second precision).
	InsertionTime time.Time
	// NextVisible is when the message becomes visible again unless it is
	// deleted or updated first. Zero for peeked messages.
	NextVisible time.Time
}

// Sent describes an enqueued message.
type Sent struct {
	ID            string
	PopReceipt    string
	InsertionTime time.Time
	// NextVisible is when the message can first be received.
	NextVisible time.Time
}

// QueueOptions configure a Queue. A nil *QueueOptions means the defaults.
type QueueOptions struct {
	// Wakeups, if set, is told about every message Send enqueues, so that
	// pollers of this queue in the same process see it at once. Share one
	// Wakeups between the Queues that send and the Pollers that receive.
	Wakeups *Wakeups
	// Logger receives warnings (poison messages); nil means slog.Default().
	Logger *slog.Logger
}

// Queue is one Azure Storage queue of a task hub. It is safe for concurrent
// use.
type Queue struct {
	client *azqueue.QueueClient
	name   string
	wake   *Wakeups
	log    *slog.Logger
}

// NewQueue returns the queue named name of the service svc (for example
// storage.Account.QueueService). Nothing is sent until the first call.
func NewQueue(svc *azqueue.ServiceClient, name string, o *QueueOptions) *Queue {
	q := &Queue{client: svc.NewQueueClient(name), name: name}
	if o != nil {
		q.wake, q.log = o.Wakeups, o.Logger
	}
	if q.log == nil {
		q.log = slog.Default()
	}
	q.log = q.log.With("queue", name)
	return q
}

// Name returns the queue's name.
func (q *Queue) Name() string { return q.name }

// Create creates the queue if it does not exist. An existing queue is
// success, whatever its metadata (C# creates queues with none).
func (q *Queue) Create(ctx context.Context) error {
	_, err := q.client.Create(ctx, nil)
	switch errorCode(err) {
	case "":
		if err != nil {
			return q.fail("create", err)
		}
	case "QueueAlreadyExists":
	case "QueueBeingDeleted":
		return q.fail("create", fmt.Errorf("the queue is being deleted (task hub deletion in progress?); retry later: %w", err))
	default:
		return q.fail("create", err)
	}
	return nil
}

// DeleteQueue deletes the queue and every message in it. A missing queue is
// success.
func (q *Queue) DeleteQueue(ctx context.Context) error {
	_, err := q.client.Delete(ctx, nil)
	if err != nil && errorCode(err) != "QueueNotFound" {
		return q.fail("delete queue", err)
	}
	return nil
}

// Send enqueues text, invisible for delay. Messages never expire (TTL -1,
// as C# sends). The delay is sent in whole seconds, truncated as the C# SDK
// does, so a message can become visible up to a second early; a negative
// delay means none. A delay above the 7 days Azure allows,
// text above MaxMessageBytes, and text that is not valid UTF-8 or holds
// characters XML cannot carry are refused before any request.
func (q *Queue) Send(ctx context.Context, text string, delay time.Duration) (Sent, error) {
	return q.send(ctx, text, delay, true)
}

// SendHidden enqueues text invisible for visibility, like Send with that
// delay, but wakes no poller: the sender keeps the message for itself
// through the returned pop receipt, with which it can delete the message
// or update its visibility exactly as after a Receive. Other consumers get
// it only if the sender neither deletes nor renews it in time (a sender
// that crashes leaves the message to reappear for anyone).
func (q *Queue) SendHidden(ctx context.Context, text string, visibility time.Duration) (Sent, error) {
	if visibility < time.Second {
		return Sent{}, q.fail("send", fmt.Errorf("hidden send needs a visibility of at least a second, not %v", visibility))
	}
	return q.send(ctx, text, visibility, false)
}

// SendQuiet is Send without the wake-up: this process's pollers of the
// queue are not told about the message, so that the caller can tell them
// (Wakeups.Notify) once whatever the message depends on has been written.
func (q *Queue) SendQuiet(ctx context.Context, text string, delay time.Duration) (Sent, error) {
	return q.send(ctx, text, delay, false)
}

func (q *Queue) send(ctx context.Context, text string, delay time.Duration, wake bool) (Sent, error) {
	if taskhub.DelayTooLong(delay) {
		return Sent{}, q.fail("send", fmt.Errorf("visibility delay %v is longer than the 7 days Azure allows; split long timers", delay))
	}
	if err := checkText(text); err != nil {
		return Sent{}, q.fail("send", err)
	}
	secs := int32(max(delay, 0) / time.Second)
	opts := &azqueue.EnqueueMessageOptions{TimeToLive: to.Ptr(int32(-1))}
	if secs > 0 {
		// C# omits the parameter for undelayed messages; so do we.
		opts.VisibilityTimeout = &secs
	}
	resp, err := q.client.EnqueueMessage(ctx, text, opts)
	if err != nil {
		return Sent{}, q.fail("send", err)
	}
	if len(resp.Messages) != 1 || resp.Messages[0].MessageID == nil {
		return Sent{}, q.fail("send", fmt.Errorf("the service answered with %d messages, want 1", len(resp.Messages)))
	}
	m := resp.Messages[0]
	if wake {
		q.wake.sent(q.name, time.Duration(secs)*time.Second)
	}
	return Sent{
		ID:            deref(m.MessageID),
		PopReceipt:    deref(m.PopReceipt),
		InsertionTime: derefTime(m.InsertionTime),
		NextVisible:   derefTime(m.TimeNextVisible),
	}, nil
}

// checkText applies the service's limits to a message text. Go's XML
// encoder would silently replace characters XML 1.0 cannot hold, which
// would change the message, so they are refused instead.
func checkText(text string) error {
	if len(text) > MaxMessageBytes {
		return fmt.Errorf("message text is %d bytes; Azure accepts at most %d (large envelopes must be offloaded)", len(text), MaxMessageBytes)
	}
	for i, r := range text {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(text[i:]); size == 1 {
				return fmt.Errorf("message text is not valid UTF-8 (byte %d)", i)
			}
		}
		if !xmlChar(r) {
			return fmt.Errorf("message text holds U+%04X at byte %d, which XML cannot carry", r, i)
		}
	}
	return nil
}

func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

// Receive dequeues up to n messages (1 to MaxBatch), each hidden for
// visibility (at least a second, at most 7 days; whole seconds, truncated).
// An empty queue gives an empty slice.
func (q *Queue) Receive(ctx context.Context, n int, visibility time.Duration) ([]*Message, error) {
	if n < 1 || n > MaxBatch {
		return nil, q.fail("receive", fmt.Errorf("batch size %d is outside 1..%d", n, MaxBatch))
	}
	if visibility < time.Second || taskhub.DelayTooLong(visibility) {
		return nil, q.fail("receive", fmt.Errorf("visibility timeout %v is outside 1s..7 days", visibility))
	}
	resp, err := q.client.DequeueMessages(ctx, &azqueue.DequeueMessagesOptions{
		NumberOfMessages:  to.Ptr(int32(n)),
		VisibilityTimeout: to.Ptr(int32(visibility / time.Second)),
	})
	if err != nil {
		return nil, q.fail("receive", err)
	}
	out := make([]*Message, 0, len(resp.Messages))
	for _, m := range resp.Messages {
		if m == nil || m.MessageID == nil {
			continue
		}
		out = append(out, &Message{
			ID:            *m.MessageID,
			PopReceipt:    deref(m.PopReceipt),
			Text:          deref(m.MessageText),
			DequeueCount:  derefInt(m.DequeueCount),
			InsertionTime: derefTime(m.InsertionTime),
			NextVisible:   derefTime(m.TimeNextVisible),
		})
	}
	return out, nil
}

// Peek returns up to n (1 to MaxBatch) visible messages without
// receiving them; their PopReceipt and NextVisible are empty.
func (q *Queue) Peek(ctx context.Context, n int) ([]*Message, error) {
	if n < 1 || n > MaxBatch {
		return nil, q.fail("peek", fmt.Errorf("batch size %d is outside 1..%d", n, MaxBatch))
	}
	resp, err := q.client.PeekMessages(ctx, &azqueue.PeekMessagesOptions{NumberOfMessages: to.Ptr(int32(n))})
	if err != nil {
		return nil, q.fail("peek", err)
	}
	out := make([]*Message, 0, len(resp.Messages))
	for _, m := range resp.Messages {
		if m == nil || m.MessageID == nil {
			continue
		}
		out = append(out, &Message{
			ID:            *m.MessageID,
			Text:          deref(m.MessageText),
			DequeueCount:  derefInt(m.DequeueCount),
			InsertionTime: derefTime(m.InsertionTime),
		})
	}
	return out, nil
}

// ApproximateCount returns the service's estimate of the number of messages
// in the queue, invisible ones included.
func (q *Queue) ApproximateCount(ctx context.Context) (int, error) {
	resp, err := q.client.GetProperties(ctx, nil)
	if err != nil {
		return 0, q.fail("get properties", err)
	}
	if resp.ApproximateMessagesCount == nil {
		return 0, nil
	}
	return int(*resp.ApproximateMessagesCount), nil
}

// Delete deletes a received message. A stale pop receipt or a message that
// no longer exists gives an error wrapping ErrMessageGone.
func (q *Queue) Delete(ctx context.Context, id, popReceipt string) error {
	_, err := q.client.DeleteMessage(ctx, id, popReceipt, nil)
	if err != nil {
		return q.failMsg("delete", id, err)
	}
	return nil
}

// UpdateVisibility hides a received message for visibility from now (0 to
// 7 days; whole seconds, truncated; negative means 0) and returns the new
// pop receipt, which replaces the old one. text must be the message's
// current text: the SDK always sends a body, and the service stores
// whatever is sent, so passing anything else rewrites the message. A stale
// pop receipt gives an error wrapping ErrMessageGone.
func (q *Queue) UpdateVisibility(ctx context.Context, id, popReceipt, text string, visibility time.Duration) (string, time.Time, error) {
	if taskhub.DelayTooLong(visibility) {
		return "", time.Time{}, q.fail("update", fmt.Errorf("visibility timeout %v is longer than 7 days", visibility))
	}
	if err := checkText(text); err != nil {
		return "", time.Time{}, q.fail("update", err)
	}
	secs := int32(max(visibility, 0) / time.Second)
	resp, err := q.client.UpdateMessage(ctx, id, popReceipt, text, &azqueue.UpdateMessageOptions{VisibilityTimeout: &secs})
	if err != nil {
		return "", time.Time{}, q.failMsg("update", id, err)
	}
	if resp.PopReceipt == nil {
		return "", time.Time{}, q.fail("update", errors.New("the service sent no new pop receipt"))
	}
	return *resp.PopReceipt, derefTime(resp.TimeNextVisible), nil
}

// Abandon puts a received message back for a later retry after C#'s
// back-off for m.DequeueCount: 2 s after the first delivery, doubling up to
// 10 minutes. From 10 minutes on the message is logged as poison, but it is
// never deleted: C# peers keep retrying it too.
// On success m.PopReceipt and m.NextVisible describe the updated message.
func (q *Queue) Abandon(ctx context.Context, m *Message) error {
	delay := taskhub.AbandonDelay(int(m.DequeueCount))
	if delay >= poisonDelay {
		q.log.Warn("poison message: it failed repeatedly and is retried every 10 minutes; it is never deleted",
			"message_id", m.ID, "dequeue_count", m.DequeueCount)
	}
	pop, next, err := q.UpdateVisibility(ctx, m.ID, m.PopReceipt, m.Text, delay)
	if err != nil {
		return err
	}
	m.PopReceipt, m.NextVisible = pop, next
	return nil
}

// fail wraps an error with the operation and the queue name, mapping a
// missing queue to ErrQueueNotFound.
func (q *Queue) fail(op string, err error) error {
	if errorCode(err) == "QueueNotFound" {
		return fmt.Errorf("queues: %s on %s: %w", op, q.name, ErrQueueNotFound)
	}
	return fmt.Errorf("queues: %s on %s: %w", op, q.name, err)
}

func (q *Queue) failMsg(op, id string, err error) error {
	switch code := errorCode(err); code {
	case "PopReceiptMismatch", "MessageNotFound":
		return fmt.Errorf("queues: %s message %s on %s: %w (%s)", op, id, q.name, ErrMessageGone, code)
	}
	return q.fail(op+" message "+id, err)
}

// errorCode returns the storage error code of an SDK error, or "".
func errorCode(err error) string {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func derefInt(n *int64) int64 {
	if n == nil {
		return 0
	}
	return *n
}

func derefTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
