package client

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/entity"
	"github.com/azdurable/azdurable/provider"
)

// Cleaning entity storage goes a page at a time, so that no one call does
// an unbounded amount of work on a large task hub: a page reads at most
// PageSize entity instances and acts on each (a lock holder read and a
// release sent; an empty entity read again and purged). Its continuation
// token is the position of the page's last instance id, not the backend's
// query token: base64url of "clean1:" and that id. The next page lists the
// instances after it (provider.Query.After), so a token means the same on
// every backend and to every sidecar of a hub, after a restart too, and is
// checked before anything is read: a token that does not decode, lacks the
// prefix or names no instance id in the entities' range ("@...") is
// refused with ErrInvalid. Any id that passes is a place where a scan of
// the entities may resume, so a token cannot start a scan from anywhere
// else.

// DefaultCleanPageSize is the number of entity instances a page of
// CleanEntitiesPage reads when its request names none (C#'s page).
const DefaultCleanPageSize = 100

// CleanRequest says what a clean of entity storage does and where it
// resumes.
type CleanRequest struct {
	// RemoveEmpty removes the instances of empty entities (no state, no
	// lock, nothing queued) whose last batch was before OlderThan, so
	// that an entity being written to is left alone.
	RemoveEmpty bool
	// ReleaseOrphanedLocks releases locks held by orchestrations that no
	// longer run (missing, or in a final status).
	ReleaseOrphanedLocks bool
	OlderThan            time.Time
	// PageSize bounds the entity instances read per page (0 =
	// DefaultCleanPageSize; the backend reads at most 1000).
	PageSize int
	// ContinuationToken resumes after the page that returned it; "" starts
	// at the first entity.
	ContinuationToken string
}

// CleanResult counts what a clean did. ContinuationToken, from
// CleanEntitiesPage, resumes the clean after this page; "" when it is done.
type CleanResult struct {
	EmptyEntitiesRemoved int
	OrphanedLocksRemoved int
	ContinuationToken    string
}

// orphanedLockRequestID names the release a clean sends for a lock whose
// holder no longer runs (the extension's value).
const orphanedLockRequestID = entity.OrphanedLockReleaseID

// cleanTokenPrefix marks a clean's position inside its token.
const cleanTokenPrefix = "clean1:"

// maxCleanToken bounds a token before it is decoded: an instance id fits
// in 512 UTF-16 code units once escaped, which no token of ours exceeds.
const maxCleanToken = 8192

func cleanToken(after string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cleanTokenPrefix + after))
}

// cleanPosition reads a clean's continuation token: the instance id the
// page resumes after ("" for the first page).
func cleanPosition(token string) (string, error) {
	if token == "" {
		return "", nil
	}
	refuse := func(why string) (string, error) {
		shown := token
		if len(shown) > 40 {
			shown = shown[:40] + "..."
		}
		return "", fmt.Errorf("%w: the clean's continuation token %q %s", ErrInvalid, shown, why)
	}
	if len(token) > maxCleanToken {
		return refuse("is too long")
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return refuse("is not one a clean of entity storage returned")
	}
	after, ok := strings.CutPrefix(string(raw), cleanTokenPrefix)
	if !ok || !strings.HasPrefix(after, "@") {
		return refuse("is not one a clean of entity storage returned")
	}
	if err := provider.ValidateInstanceID(after); err != nil {
		return refuse("names no instance id")
	}
	return after, nil
}

// CheckCleanToken reports whether token can resume a clean (a token that
// CleanEntitiesPage returned, or ""): the check CleanEntitiesPage makes
// first, for callers that refuse a bad token before they open storage.
func CheckCleanToken(token string) error {
	_, err := cleanPosition(token)
	return err
}

// CleanEntityStorage cleans every page of entity storage (CleanEntities
// with the default page size).
func (c *Client) CleanEntityStorage(ctx context.Context, removeEmpty, releaseOrphanedLocks bool, olderThan time.Time) (CleanResult, error) {
	return c.CleanEntities(ctx, CleanRequest{RemoveEmpty: removeEmpty, ReleaseOrphanedLocks: releaseOrphanedLocks, OlderThan: olderThan})
}

// CleanEntities cleans entity storage page after page (CleanEntitiesPage)
// from r.ContinuationToken until the last page, and returns the sums. A
// token that no page returned is refused with ErrInvalid. A failure to act
// on one entity does not stop the clean: the failures are joined into the
// error returned at the end. A failure to read a page does; the result's
// ContinuationToken then resumes at that page.
func (c *Client) CleanEntities(ctx context.Context, r CleanRequest) (CleanResult, error) {
	if err := CheckCleanToken(r.ContinuationToken); err != nil {
		return CleanResult{}, err
	}
	var sum CleanResult
	var errs []error
	for {
		res, err := c.CleanEntitiesPage(ctx, r)
		sum.EmptyEntitiesRemoved += res.EmptyEntitiesRemoved
		sum.OrphanedLocksRemoved += res.OrphanedLocksRemoved
		var read *cleanReadError
		if errors.As(err, &read) {
			sum.ContinuationToken = r.ContinuationToken
			return sum, errors.Join(append(errs, err)...)
		}
		if err != nil {
			errs = append(errs, err)
		}
		if res.ContinuationToken == "" {
			return sum, errors.Join(errs...)
		}
		r.ContinuationToken = res.ContinuationToken
	}
}

// cleanReadError is a refused token or a failure to read a clean's page:
// nothing of the page was done.
type cleanReadError struct{ err error }

func (e *cleanReadError) Error() string { return e.err.Error() }
func (e *cleanReadError) Unwrap() error { return e.err }

// CleanEntitiesPage cleans one page of entity storage: it reads up to
// r.PageSize entity instances after r.ContinuationToken's position and
// removes the empty ones and releases the orphaned locks among them, as
// r asks. An empty entity is read again just before its instance is
// purged. The result's ContinuationToken resumes after this page ("" when
// it was the last). A token that is not one a page returned is refused
// with ErrInvalid before anything is read. A failure to act on one entity
// does not stop the others; the failures are joined into the error, and
// the token is still returned.
func (c *Client) CleanEntitiesPage(ctx context.Context, r CleanRequest) (CleanResult, error) {
	after, err := cleanPosition(r.ContinuationToken)
	if err != nil {
		return CleanResult{}, &cleanReadError{err}
	}
	size := r.PageSize
	if size <= 0 {
		size = DefaultCleanPageSize
	}
	q := EntityQuery{IncludeDeleted: true, PageSize: size}.instanceQuery()
	q.After = after
	// The service may answer a page with no rows and a token (a partition
	// boundary, its time limit): read on until a page has rows, so that
	// the token handed out names a position.
	var states []*State
	token := ""
	for {
		p, err := c.QueryPage(ctx, q, token)
		if err != nil {
			return CleanResult{}, &cleanReadError{err}
		}
		states, token = p.States, p.ContinuationToken
		if len(states) > 0 || token == "" {
			break
		}
	}
	var res CleanResult
	if token != "" {
		res.ContinuationToken = cleanToken(states[len(states)-1].InstanceID)
	}
	var errs []error
	for _, st := range states {
		if !entity.IsInstanceID(st.InstanceID) {
			continue
		}
		m, err := EntityMetadataOf(st)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := c.cleanEntity(ctx, m, r, &res); err != nil {
			errs = append(errs, err)
		}
	}
	return res, errors.Join(errs...)
}

// cleanEntity releases m's lock when its holder no longer runs, or
// removes m when it is empty and old enough, as r asks.
func (c *Client) cleanEntity(ctx context.Context, m *EntityMetadata, r CleanRequest, res *CleanResult) error {
	if m.LockedBy != "" {
		if !r.ReleaseOrphanedLocks {
			return nil
		}
		st, err := c.GetState(ctx, m.LockedBy, WithInputsAndOutputs(false))
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if err == nil && !st.Status.IsTerminal() {
			return nil
		}
		text := (&entity.Release{Parent: m.LockedBy, ID: orphanedLockRequestID}).Encode()
		if err := c.send(ctx, m.ID.InstanceID(), &history.EventRaisedEvent{Name: entity.ReleaseEvent, Input: &text}); err != nil {
			return err
		}
		res.OrphanedLocksRemoved++
		return nil
	}
	if !r.RemoveEmpty || m.Exists || m.QueueSize != 0 || !m.LastModifiedAt.Before(r.OlderThan) {
		return nil
	}
	again, err := c.GetEntity(ctx, m.ID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if again.Exists || again.LockedBy != "" || again.QueueSize > 0 || !again.LastModifiedAt.Equal(m.LastModifiedAt) {
		return nil
	}
	if _, err := c.be.Purge(ctx, m.ID.InstanceID()); err != nil {
		return fmt.Errorf("client: purging empty entity %s: %w", m.ID, err)
	}
	res.EmptyEntitiesRemoved++
	return nil
}
