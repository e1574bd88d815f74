// Package history is the vocabulary of the Durable Task Framework as the C#
// DurableTask.Core library defines it: every history event type with its
// EventType number and fields, TaskMessage, OrchestrationInstance,
// ParentInstance, FailureDetails, the orchestration status names, and a JSON
// codec that writes what C# writes and reads what C# reads.
//
// Design note. Each C# event class is a Go struct, and Members is the one
// description of its fields: their C# names, in C#'s wire order (EventType
// where C# puts it, the HistoryEvent members last), each with a pointer into
// the event whose type is the field's kind. Every codec walks that list and
// switches on the kind: the JSON writer and reader here, the History table
// row codec (tables) and the HTTP history (httpapi). What is particular to
// one of them (a renamed column, a column C# moves, a member only azdurable
// writes) stays in that codec, next to a comment. The list is built into a
// caller's array, so walking it allocates nothing. Strings that C# may leave
// null and that carry meaning when null (payloads, reasons, execution ids
// of addressed instances) are *string; names and ids that C# always fills
// are plain strings, and a null there reads as "". Tags are maps and are
// written in sorted key order. The nested objects (OrchestrationInstance,
// ParentInstance, DistributedTraceContext, FailureDetails) exist only in
// JSON, and their writer and reader are written out by hand.
//
// Two JSON dialects exist and both are produced here:
//
//   - TypeNames: Newtonsoft with TypeNameHandling.Objects, as used for queue
//     messages. "$type" is written first in every object except dictionaries
//     (a deliberate difference from C#: dictionary type names are runtime
//     specific, and every C# runtime reads a dictionary without one).
//   - Plain: Newtonsoft defaults, as used for the JSON columns of the History
//     table and for the HTTP management API's history.
//
// Readers accept either dialect, any member order, names in any case,
// missing and unknown members, dictionary "$type" in any spelling, and
// assembly-qualified type names. This package knows nothing of Azure.
package history
