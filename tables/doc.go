// Package tables is the codec for the History and Instances tables of a
// DurableTask.AzureStorage task hub: table entities and their OData JSON,
// PartitionKey escaping and RowKeys, History rows for every event type, the
// sentinel row, the Instances rows C# writes at each step, and the
// bookkeeping for values too large for a column. Rows written here are the
// rows a C# worker writes, so C# and Go workers can share a task hub.
//
// Design note. The package is pure: it turns events and states into
// entities and entities into JSON and back, and never talks to storage.
// Every clock ("now") and random number is a parameter, which keeps the
// codec deterministic and lets the golden tests compare it with the recorded
// C# traffic exactly; the storage layer owns requests, ETags, retries and
// blob transfers.
//
// Column order. An Entity keeps its properties in a slice, in wire order,
// and MarshalEntity writes them in that order, so the builders decide the
// order: the order C# sends (its entities are insertion-ordered
// dictionaries). Entity.Set follows dictionary semantics: assigning an
// existing column keeps its position, a new one is appended. That is how the
// Instances checkpoint merge gets C#'s order when a later event overwrites
// an earlier one's RuntimeStatus or Output. PartitionKey and RowKey sit at
// Entity.KeyIndex; History rows put them between EventType and ExecutionId
// as C# does. The service does not care about order, but byte-level
// comparisons with C# do, and keeping it costs nothing.
//
// Nulls. C# sends explicit JSON nulls for unset members; the service stores
// none of them, and in a merge a null leaves the stored value unchanged.
// This package never writes a null: a nil pointer in an event is simply not
// written, and a property whose Value is nil keeps its slot in the order but
// is skipped by MarshalEntity. JSON-valued columns are different: C# stores
// a null object as the four-character string "null" (ParentInstance, Tags,
// ParentTraceContext, FailureDetails, CustomStatus), and so does this
// package, because C# readers expect the column.
//
// Reading. UnmarshalEntity accepts the service's serialization (annotations
// before or after values, odata.etag, Timestamp, unknown columns) and
// DateTime values with 0 to 7 fraction digits. The decoders are lenient in
// what they accept from C# rows and strict about what they cannot map
// (a History row without a known EventType is an error naming the row).
//
// Storage side. The codec above stays pure; HistoryStore, InstanceStore
// and Purger put it on a real account through the Azure SDK clients (aztables, and blobs.Store for
// the {hub}-largemessages container); CreateTables and DeleteTables manage
// the tables. The history's concurrency token is the sentinel's ETag: every
// Append transaction ends with the sentinel (Insert without an ETag, Merge
// with If-Match otherwise), and the ETag the service gives that operation
// is carried to the next transaction. aztables' TransactionResponse is an
// empty placeholder, so the store captures the $batch answer from the
// pipeline (runtime.WithCaptureResponse) and reads the per-operation ETags
// from its multipart body itself; a follow-up read would cost a call and,
// worse, could adopt another writer's ETag. A failed transaction comes back
// as 202 with the real status inside the multipart body; one parser maps it
// to *Error, wrapping ErrConflict only for 409 EntityAlreadyExists and 412
// UpdateConditionNotSatisfied, so a bad row or a missing table is never
// mistaken for lost ownership. Transactions are checked before sending (at
// most 100 operations, one PartitionKey, no RowKey twice), because Azurite
// accepts mixed partitions and garbles answers beyond 100 operations.
// Large columns are uploaded before the transaction that refers to them, so
// a committed row never points at a missing blob; a crash can only leave
// an orphan blob, which purge removes. Purge deletes blobs under
// "<escaped id>/history-" and "<raw id>/message-" rather than C#'s bare-id
// prefix, so purging "abc" never touches "abcd" and purging "ab" never
// touches "ab/cd".
package tables
