// Package blobs stores the gzip payload blobs of a task hub: queue messages
// too large for a queue (offloaded envelopes) and table columns too large for
// a table, all in the hub's <hub>-largemessages container, in the layout
// DurableTask.AzureStorage uses.
//
// Design note. A [Store] is one container and knows nothing about messages
// or tables; the queues and tables layers decide names and contents. Every
// blob is the gzip of a UTF-8 payload, uploaded as a block blob with one Put
// Blob (C# streams the same bytes in several requests; readers cannot tell),
// with no Content-Type or Content-Encoding of our own, as C# leaves them.
// Readers accept any valid gzip stream, because the .NET compressor's bytes
// cannot be reproduced elsewhere and need not be. The container is created
// lazily, right before the first upload, as C# does, and again if an upload
// finds it gone. Blob URLs, which C# stores in the Instances table in place
// of large inputs and outputs, escape each path segment with RFC 3986 data
// escaping (only A–Z a–z 0–9 - . _ ~ are kept) and never carry a SAS.
//
// Errors name the container and the blob and wrap [ErrNotFound] or
// [ErrCorrupt] where the caller has to branch; they never include payloads
// or credentials.
package blobs
