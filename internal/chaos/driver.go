package chaos

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/internal/ctxsleep"
	"github.com/azdurable/azdurable/provider"
)

// Driver starts a plan's instances, raises their events once they run and
// watches them until every one has ended.
type Driver struct {
	C    *client.Client
	Plan []Spec
	// Rate bounds the starts per second (0: all at once).
	Rate float64
	// Prefix is the common prefix of the plan's ids (used to query them).
	Prefix string

	mu      sync.Mutex
	started int
	// signalRetries counts client signals sent again after an error.
	signalRetries int
	raised        map[string]bool
	ended         map[string]bool
}

// Start starts the top-level instances, Rate per second; a start that
// fails (storage trouble) is retried until ctx ends.
func (d *Driver) Start(ctx context.Context) error {
	var tick *time.Ticker
	if d.Rate > 0 {
		tick = time.NewTicker(time.Duration(float64(time.Second) / d.Rate))
		defer tick.Stop()
	}
	for _, s := range d.Plan {
		if s.Child {
			continue
		}
		if tick != nil {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-tick.C:
			}
		}
		for {
			_, err := d.C.ScheduleNew(ctx, s.Orchestration, s.Input, client.WithInstanceID(s.ID))
			if err == nil || errors.Is(err, provider.ErrInstanceExists) {
				break
			}
			if ctx.Err() != nil {
				return fmt.Errorf("starting %s: %w", s.ID, err)
			}
			if !ctxsleep.Sleep(ctx, 200*time.Millisecond) {
				return ctx.Err()
			}
		}
		d.mu.Lock()
		d.started++
		d.mu.Unlock()
		for _, k := range s.ClientSignals {
			if err := d.signal(ctx, k); err != nil {
				return err
			}
		}
	}
	return nil
}

// signal sends "add 1" to the counter key from the client, again after an
// error until ctx ends (a retry is counted: if the failed attempt had
// reached the queue, the counter gets the operation twice).
func (d *Driver) signal(ctx context.Context, key string) error {
	for {
		err := d.C.SignalEntity(ctx, Tally.ID(key), "add", 1)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("signalling %s: %w", key, err)
		}
		d.mu.Lock()
		d.signalRetries++
		d.mu.Unlock()
		if !ctxsleep.Sleep(ctx, 200*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// SignalRetries returns how many client signals were sent again after an
// error.
func (d *Driver) SignalRetries() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.signalRetries
}

// Started returns how many top-level instances were started.
func (d *Driver) Started() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.started
}

// Watch polls the instances' statuses every interval, raises each planned
// event once its instance runs, and returns once every planned instance
// has ended, or with ctx's error.
func (d *Driver) Watch(ctx context.Context, interval time.Duration, progress func(ended, total int)) error {
	d.mu.Lock()
	d.raised, d.ended = map[string]bool{}, map[string]bool{}
	d.mu.Unlock()
	specs := map[string]Spec{}
	for _, s := range d.Plan {
		specs[s.ID] = s
	}
	for {
		status := map[string]client.Status{}
		for st, err := range d.C.Query(ctx, client.Query{InstanceIDPrefix: d.Prefix, PageSize: 1000}) {
			if err != nil {
				break // storage trouble: try again on the next round
			}
			status[st.InstanceID] = st.Status
		}
		for id, st := range status {
			s, ok := specs[id]
			if !ok {
				continue
			}
			if st.IsTerminal() {
				d.ended[id] = true
			}
			if s.Event != nil && st == client.Running && !d.raised[id] {
				if err := d.C.RaiseEvent(ctx, id, EventName, *s.Event); err == nil {
					d.raised[id] = true
				}
			}
		}
		if progress != nil {
			progress(len(d.ended), len(d.Plan))
		}
		if len(d.ended) == len(d.Plan) {
			return nil
		}
		if !ctxsleep.Sleep(ctx, interval) {
			return fmt.Errorf("%d of %d instances ended: %w", len(d.ended), len(d.Plan), ctx.Err())
		}
	}
}

// Unended returns the ids of planned instances Watch has not seen end.
func (d *Driver) Unended() []string {
	var out []string
	for _, s := range d.Plan {
		if !d.ended[s.ID] {
			out = append(out, s.ID)
		}
	}
	return out
}
