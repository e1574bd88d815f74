// Package chaos checks that a task hub loses, duplicates and strands no
// work while its workers are killed, paused, scaled and fed storage
// faults. Its workload (Registrations) is a mix of chains, fan-outs,
// timers, external events, sub-orchestrations, continue-as-new and caught
// activity failures whose outputs are known in advance (Plan), and entity
// work (entities.go: counters signalled and called, transfers between
// accounts in critical sections) whose final entity states are known in
// advance too (PlanEntities, checked by CheckEntities). A Cluster
// runs `azdurable worker` processes of a program that registers the
// workload; Run kills one of them with SIGKILL every few seconds while a
// Driver starts the instances and raises their events, then Check verifies
// every output and every stored history (no second ExecutionStarted, no
// task scheduled or completed twice, and a clean replay), and the summary
// counts kills, partition moves, lost locks and activities that ran more
// than once.
//
// Design note. Workers are real processes so that SIGKILL, SIGSTOP and
// SIGCONT do what they do in production; the driver talks to them only
// through storage and reads what they leave behind: their logs (slog text
// on stderr, one file per process) and an execution record per process
// that each activity appends to before it returns. The package needs a
// Unix system (signals) and is Linux-tested.
package chaos
