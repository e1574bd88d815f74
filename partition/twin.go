package partition

import (
	"log/slog"
	"sync"
	"time"
)

// twinWatch notices another live process that uses this worker's id, from
// the Partitions rows the table manager reads anyway (no extra call).
// Only a worker with this id writes a row that names this id as its owner
// with a new LastRenewal (claims, renewals and drain marks all set it;
// other workers' steal requests leave it alone). So a row owned by this id
// whose LastRenewal is later than this process's start and is none of the
// values this process itself wrote (or tried to: an answer can be lost) was
// written by another process with the same id, alive now. A predecessor
// that ran with the id before this process started wrote only earlier
// values, so a restart with a stable --worker-id is not mistaken for one.
type twinWatch struct {
	me    string
	since time.Time
	every time.Duration
	log   *slog.Logger

	mu       sync.Mutex
	mine     map[string][]time.Time // per partition, the LastRenewal values this process wrote last
	lastWarn time.Time
	seen     int
}

// twinKeep bounds the LastRenewal values remembered per partition.
const twinKeep = 4

func newTwinWatch(me string, log *slog.Logger, every time.Duration) *twinWatch {
	return &twinWatch{me: me, since: time.Now(), every: every, log: log, mine: map[string][]time.Time{}}
}

// writing records a row this process is about to write.
func (w *twinWatch) writing(r Row) {
	if r.CurrentOwner != w.me || r.LastRenewal.IsZero() {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	v := append(w.mine[r.Partition], r.LastRenewal)
	if len(v) > twinKeep {
		v = v[len(v)-twinKeep:]
	}
	w.mine[r.Partition] = v
}

// check looks at the rows just read and warns (at most once per interval)
// when one of them was renewed under this id by another process.
func (w *twinWatch) check(rows []Row) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range rows {
		if r.CurrentOwner != w.me || !r.LastRenewal.After(w.since) || w.wroteLocked(r.Partition, r.LastRenewal) {
			continue
		}
		w.seen++
		if now := time.Now(); now.Sub(w.lastWarn) >= w.every {
			w.lastWarn = now
			w.log.Warn("partition: another live process uses this worker id: a partition row that names it as owner was renewed by "+
				"someone else; both take the same partitions and compete for their messages. Give every worker of a hub its own id "+
				"(azdurable worker: --worker-id; the default <host>-<pid> is unique)",
				"worker_id", w.me, "partition", r.Partition, "last_renewal", r.LastRenewal.UTC().Format(time.RFC3339Nano))
		}
		return
	}
}

func (w *twinWatch) wroteLocked(p string, t time.Time) bool {
	for _, m := range w.mine[p] {
		if d := m.Sub(t); d < time.Microsecond && d > -time.Microsecond { // the table keeps 100 ns
			return true
		}
	}
	return false
}

// twins reports how many reads showed another process with this id.
func (w *twinWatch) twins() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seen
}
