package replay

import "github.com/azdurable/azdurable/history"

// Task is the engine's future: the outcome of an activity, timer,
// sub-orchestration or external event. It completes while the engine applies
// the event that answers it.
type Task struct {
	e    *Engine
	id   int32 // -1 for tasks without a task id (events)
	kind history.EventType
	name string
	done bool
	val  *string
	err  error
	// seq orders completions by history position (WhenAny, Selector).
	seq    int64
	onDone []func()
}

// ID returns the task id, or -1.
func (t *Task) ID() int32 { return t.id }

// Done reports whether the task has completed.
func (t *Task) Done() bool { return t.done }

// Result returns the JSON value and error of a completed task.
func (t *Task) Result() (*string, error) { return t.val, t.err }

// Seq returns the position in history at which the task completed; lower
// means earlier. Zero while not done.
func (t *Task) Seq() int64 { return t.seq }

func (t *Task) complete(val *string, err error) {
	seq := int64(0)
	if t.e != nil {
		seq = t.e.seq
	}
	t.completeAt(val, err, seq)
}

// completeAt completes the task as if at history position seq.
func (t *Task) completeAt(val *string, err error, seq int64) {
	if t.done {
		return
	}
	t.done, t.val, t.err, t.seq = true, val, err, seq
	callbacks := t.onDone
	t.onDone = nil
	for _, f := range callbacks {
		f()
	}
}

// whenDone runs f (inside the engine, not as user code) when t completes.
func (t *Task) whenDone(f func()) {
	if t.done {
		f()
		return
	}
	t.onDone = append(t.onDone, f)
}

func failedTask(err error) *Task {
	return &Task{id: -1, done: true, err: err}
}
