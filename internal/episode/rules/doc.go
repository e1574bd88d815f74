// Package rules holds the rules every backend applies around an episode,
// each written once: which incoming messages an episode gets (Triage and
// the HistoryIndex it reads, DedupeStart for top-level starts), the
// generation of a new start (NextGeneration), and how an instance's status
// changes (Pending, Checkpoint, TerminatedBeforeHistory, Repair, and
// NeedsRepair).
//
// Design note. The package is pure (no I/O, no clock: the caller passes
// the time) and imports only history, so that everything below the
// backend contract can use it: the Azure Storage backend and its Instances
// row codec in package tables, the in-memory backend, and the engine's
// simulator (internal/replay/replaytest), which forms its batches the way
// production does.
//
// A status transition is described once, as a Change: the status after it
// and the fields it writes, in the order C# writes the columns of its
// Instances row. The in-memory backend keeps the status itself
// (Change.State); package tables turns the same Change into the row's
// columns, in that order, with the values of Change.State. A field written
// twice keeps its first place and takes its last value, as a column of a
// C# dictionary does.
package rules
