// Package history is the vocabulary of the Durable Task Framework as the C#
// DurableTask.Core library defines it: every history event type with its
// EventType number and fields, TaskMessage, OrchestrationInstance,
// ParentInstance, FailureDetails, the orchestration status names, and a JSON
// codec that writes what C# writes and reads what C# reads.
//
// Design note. Each C# event class is a Go struct whose fields are declared
// in C#'s wire order; the codec writes them by hand in that order, so a
// message body is byte-for-byte the body a C# worker would send. Strings that
// C# may leave null and that carry meaning when null (payloads, reasons,
// execution ids of addressed instances) are *string; names and ids that C#
// always fills are plain strings, and a null there reads as "". Tags are
// maps and are written in sorted key order.
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
