package worker

import "time"

// Observer is told about every orchestration episode and activity the
// worker finishes; metrics exporters implement it. Its methods are called
// from the worker's goroutines, concurrently, and must not block.
type Observer interface {
	// EpisodeDone reports one episode of the named orchestration (a
	// registered one, in the case the instance was started with), d after
	// its work item was taken; committed is false when the episode was
	// given back, retried or quarantined instead.
	EpisodeDone(name string, d time.Duration, committed bool)
	// ActivityDone reports an activity of a registered name whose result
	// was sent, d after its
	// work item was taken; failed says the activity returned an error.
	ActivityDone(name string, d time.Duration, failed bool)
}

// episodeObservation collects what an episode reports to the Observer.
type episodeObservation struct {
	o         Observer
	began     time.Time
	name      string
	committed bool
}

func (w *Worker) observeEpisode() *episodeObservation {
	return &episodeObservation{o: w.opts.Observer, began: time.Now()}
}

// done reports the episode, if it got as far as knowing its orchestration.
func (e *episodeObservation) done() {
	if e.o != nil && e.name != "" {
		e.o.EpisodeDone(e.name, time.Since(e.began), e.committed)
	}
}

func (w *Worker) observeActivity(name string, began time.Time, failed bool) {
	if w.opts.Observer != nil {
		w.opts.Observer.ActivityDone(name, time.Since(began), failed)
	}
}
