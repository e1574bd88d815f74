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
package queues
