package partition

import "time"

// writeKind says why a Partitions row is written, and so what a successful
// write means for the tracker.
type writeKind int

const (
	writeClaim     writeKind = iota // free, expired or handed to me: now mine (renewed in the same write)
	writeRenew                      // mine: extend the lease
	writeDrainMark                  // mine, being handed over: IsDraining=true and renewed
	writeRelease                    // mine, drained: CurrentOwner removed, NextOwner kept, not renewed
	writeSteal                      // another owner's: NextOwner=me
)

func (k writeKind) String() string {
	return [...]string{"claim", "renew", "drainMark", "release", "steal"}[k]
}

// tableWrite is one planned Replace: the full new row, with the ETag of the
// read it is based on.
type tableWrite struct {
	Kind writeKind
	Row  Row
}

// tableInput is everything planTable looks at besides the rows.
type tableInput struct {
	Me    string
	Now   time.Time
	Lease time.Duration // LeaseInterval: ExpiresAt = now + Lease on claim and renewal
	// RenewAfter: a row this worker owns and listens to is rewritten only
	// once its LastRenewal is at least this old.
	RenewAfter time.Duration
	Stopping   bool
	Local      map[string]phase
}

// tablePlan is what one iteration does. Drops and drains take effect before
// any write; writes are made in order and the first failure aborts the rest.
type tablePlan struct {
	Drop   []string // listening, but the row names another owner: stop at once (Lost)
	Drain  []string // hand-over requested (or stopping): stop dequeuing and Drain
	Writes []tableWrite
	Busy   bool // draining, or waiting for a release: iterate again soon
	Owned  int  // rows naming this worker once every write has succeeded
}

// planTable applies the table partition manager's rules (tables spec §4.2)
// to the rows of one read. It is a pure function.
func planTable(rows []Row, in tableInput) tablePlan {
	var p tablePlan
	counts := map[string]int{} // partitions per other worker, for balancing
	var others []string        // other workers, in order of first appearance
	count := func(w string) {
		if _, ok := counts[w]; !ok {
			others = append(others, w)
		}
		counts[w]++
	}
	mine := 0
	expired := func(r Row) bool { return !in.Now.Before(r.ExpiresAt) } // absent ExpiresAt counts as expired
	renewed := func(r Row) Row {
		r.LastRenewal = in.Now
		r.ExpiresAt = in.Now.Add(in.Lease)
		return r
	}

	for _, r := range rows {
		ph := in.Local[r.Partition]
		if r.CurrentOwner != in.Me {
			if ph != phaseIdle {
				p.Drop = append(p.Drop, r.Partition)
			}
			ph = phaseIdle
		}
		if in.Stopping {
			if r.CurrentOwner == in.Me {
				p.Busy = true
				p.handOver(r, ph, in, renewed)
			}
			continue
		}

		if (r.CurrentOwner == "" && r.NextOwner == "") || expired(r) || (r.CurrentOwner == "" && r.NextOwner == in.Me) {
			c := r
			c.CurrentOwner, c.NextOwner, c.IsDraining = in.Me, "", false
			c.OwnedSince = in.Now
			p.Writes = append(p.Writes, tableWrite{Kind: writeClaim, Row: renewed(c)})
			p.Owned++
			mine++
			continue
		}

		if r.CurrentOwner != in.Me {
			switch {
			case r.NextOwner == in.Me: // asked for it; waiting for the release
				mine++
				p.Busy = true
			case r.NextOwner != "":
				count(r.NextOwner)
			case !r.IsDraining:
				count(r.CurrentOwner)
			default: // the owner is shutting down: ask for it
				s := r
				s.NextOwner = in.Me
				p.Writes = append(p.Writes, tableWrite{Kind: writeSteal, Row: s})
				mine++
				p.Busy = true
			}
			continue
		}

		if r.NextOwner == "" || r.NextOwner == in.Me {
			p.Owned++
			mine++
			if ph != phaseListening || r.IsDraining || r.NextOwner != "" || !r.LastRenewal.After(in.Now.Add(-in.RenewAfter)) {
				n := r
				n.NextOwner, n.IsDraining = "", false
				p.Writes = append(p.Writes, tableWrite{Kind: writeRenew, Row: renewed(n)})
			}
			continue
		}
		// Another worker asked for this row: it counts as theirs from now on.
		count(r.NextOwner)
		p.Busy = true
		p.handOver(r, ph, in, renewed)
	}

	if in.Stopping || len(others) == 0 {
		return p
	}
	avg := len(rows) / (len(others) + 1)
	if avg < mine {
		return p
	}
	for _, o := range others {
		take := avg - mine
		if take < 0 {
			break
		}
		excess := counts[o] - avg
		if excess <= 0 {
			continue
		}
		if take == 0 && excess > 1 {
			take = 1
		}
		take = min(take, excess)
		for _, r := range rows {
			if take == 0 {
				break
			}
			if r.CurrentOwner == o && r.NextOwner == "" && !r.IsDraining && !expired(r) {
				s := r
				s.NextOwner = in.Me
				p.Writes = append(p.Writes, tableWrite{Kind: writeSteal, Row: s})
				take--
				mine++
				p.Busy = true
			}
		}
	}
	return p
}

// handOver plans one step of handing over a row this worker owns: start the
// drain, mark the row draining (renewed) and keep renewing it while the
// drain runs, and release it once drained and marked. As in C#, a row that
// was dequeued from is always marked before it is released, even when the
// drain finished at once; a row nobody dequeued from is released at once.
func (p *tablePlan) handOver(r Row, ph phase, in tableInput, renewed func(Row) Row) {
	if ph == phaseIdle || (ph == phaseDrained && r.IsDraining) {
		rel := r
		rel.CurrentOwner, rel.IsDraining = "", false
		p.Writes = append(p.Writes, tableWrite{Kind: writeRelease, Row: rel})
		return
	}
	if ph == phaseListening {
		p.Drain = append(p.Drain, r.Partition)
	}
	if ph != phaseDraining || !r.IsDraining || !r.LastRenewal.After(in.Now.Add(-in.RenewAfter)) {
		d := r
		d.IsDraining = true
		p.Writes = append(p.Writes, tableWrite{Kind: writeDrainMark, Row: renewed(d)})
	}
	p.Owned++
}
