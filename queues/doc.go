// Package queues owns the task hub's Azure Storage queues: the body format of
// every queue message (DurableTask.AzureStorage's MessageData envelope), which
// control queue an instance belongs to, the names of all resources derived
// from a task hub name, and (in the storage layer) sending, receiving and
// polling.
//
// Design note. A queue body is the compact JSON of one MessageData envelope,
// written member by member in C#'s order so that the bytes equal those of a
// C# sender. On the queue the JSON is sent as is (UTF-8, the C# default) or
// base64-encoded (for hubs shared with old C# workers); readers accept both,
// deciding by the first character as C# does: '{' is JSON, anything else is
// base64. Envelopes above LargeMessageThreshold bytes travel as a wrapper
// whose CompressedBlobName points at a gzip blob holding the real envelope.
//
// Storage layer. [Queue] is one queue, on the SDK's QueueClient: messages
// are sent with TTL -1 and a delay in whole seconds, truncated, as C# sends
// them; a stale pop receipt is [ErrMessageGone]; Abandon applies C#'s
// back-off and never deletes. [Codec] adds the envelope and the large-message
// offload (package blobs) on top of the text. [Poller] receives with C#'s
// randomized exponential back-off ([Backoff]), and a [Wakeups] registry,
// handed explicitly to the Queues that send and the Pollers that receive,
// ends the back-off at once when this process enqueues to a queue it polls
// (for a delayed message, when it becomes visible).
//
// Idle cost. With back-off cap M the waits after empty polls are 0, 50 ms,
// then 50 ms + r·50 ms·2^(k-3) (r in [0.8, 1.2]) until they reach M, which
// takes about 13 polls at the 30 s default (the ramp lasts about a minute).
// A batch smaller than asked for counts as the first empty poll (the queue
// was drained), so the poll right after it waits 50 ms instead of none; C#
// polls again at once, so this saves up to two empty polls after each
// burst and changes nothing once the back-off has reached M.
// From then on an idle queue costs one receive per M, i.e. 60/M receives a
// minute: about 2 per minute per queue at M = 30 s, or 10 per minute for a
// hub with 4 control queues and the work-item queue, the same as C# with
// its defaults.
package queues
