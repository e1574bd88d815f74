// Package taskhub is the core of a task hub's storage layout: the one home
// of every rule that decides where a task hub's data lives and what Azure
// Storage accepts.
//
//   - Names: the name rule of a task hub and the name of each of its
//     queues, tables and blob containers (Names), as DurableTask.AzureStorage
//     derives them.
//   - Partitions: the bounds of the partition count and the instance-to-
//     partition hash (C#'s FNV-1a over the UTF-8 id).
//   - Keys: the escaping of an instance id into a table PartitionKey, and
//     the key length limit counted in UTF-16 code units on the escaped key.
//   - Limits: the message size, the 7-day visibility delay (the longest a
//     message can be hidden, so the longest single timer and the furthest
//     scheduled start), the receive batch, the rows and bytes of one table
//     transaction, the column size, and C#'s abandon back-off.
//
// Design note. Every storage package (queues, tables, blobs, partition),
// both backends and the command line used to carry a copy of one rule or
// another, or import a sibling just for a constant. Here each rule is
// written once, with no imports beyond the standard library, so that any
// package may depend on it without pulling in another layer. The package
// is internal: public packages expose what users need in their own terms
// (provider/azurestorage's admin functions, provider's validation) and never
// a type of this package.
package taskhub
