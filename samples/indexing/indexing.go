// Package indexing is the fan-out/fan-in sample: list an organization's
// repositories, count the open issues of each in parallel, save a summary
// and return the counts. Repositories and their issues come from
// testdata/repositories.json (embedded), so the sample needs no network.
package indexing

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
	"sync"

	"github.com/azdurable/azdurable/durable"
)

//go:embed testdata/repositories.json
var repositoriesJSON []byte

type repository struct {
	Name       string `json:"name"`
	OpenIssues int    `json:"openIssues"`
}

func catalog() (map[string][]repository, error) {
	var c map[string][]repository
	err := json.Unmarshal(repositoriesJSON, &c)
	return c, err
}

// Summary is what the sample saves and returns.
type Summary struct {
	Organization string         `json:"organization"`
	Repositories int            `json:"repositories"`
	OpenIssues   int            `json:"openIssues"`
	Counts       map[string]int `json:"counts"`
}

// Store saves summaries (a blob container in the Azure samples).
type Store interface {
	Save(ctx context.Context, name string, data []byte) error
}

// MemoryStore is a Store in memory.
type MemoryStore struct {
	mu    sync.Mutex
	items map[string][]byte
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{items: map[string][]byte{}} }

// Save stores data under name.
func (m *MemoryStore) Save(_ context.Context, name string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.items[name] = append([]byte(nil), data...)
	return nil
}

// Get returns what was saved under name.
func (m *MemoryStore) Get(name string) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.items[name]
	return b, ok
}

// ListRepositories returns an organization's repository names, sorted.
var ListRepositories = durable.NewActivity("ListRepositories", func(_ context.Context, org string) ([]string, error) {
	c, err := catalog()
	if err != nil {
		return nil, err
	}
	repos, ok := c[org]
	if !ok {
		return nil, durable.NonRetryable(fmt.Errorf("unknown organization %q", org))
	}
	names := make([]string, len(repos))
	for i, r := range repos {
		names[i] = r.Name
	}
	sort.Strings(names)
	return names, nil
})

// RepoRef names one repository.
type RepoRef struct {
	Organization string `json:"organization"`
	Repository   string `json:"repository"`
}

// CountOpenIssues counts a repository's open issues.
var CountOpenIssues = durable.NewActivity("CountOpenIssues", func(_ context.Context, r RepoRef) (int, error) {
	c, err := catalog()
	if err != nil {
		return 0, err
	}
	for _, repo := range c[r.Organization] {
		if repo.Name == r.Repository {
			return repo.OpenIssues, nil
		}
	}
	return 0, durable.NonRetryable(fmt.Errorf("unknown repository %s/%s", r.Organization, r.Repository))
})

// SummaryBlobName is where the summary of an organization is saved.
func SummaryBlobName(org string) string { return "summaries/" + org + ".json" }

// Registrations returns the sample's orchestration and activities; the
// SaveSummary activity writes to store.
func Registrations(store Store) []durable.Registrable {
	save := durable.NewActivity("SaveSummary", func(ctx context.Context, s Summary) (string, error) {
		data, err := json.Marshal(s)
		if err != nil {
			return "", err
		}
		name := SummaryBlobName(s.Organization)
		return name, store.Save(ctx, name, data)
	})
	return []durable.Registrable{IndexRepositories, ListRepositories, CountOpenIssues, save}
}

var saveSummary = durable.ActivityRef[Summary, string]("SaveSummary")

// IndexRepositories fans out one CountOpenIssues per repository, fans in,
// saves the summary and returns the counts by repository.
var IndexRepositories = durable.NewOrchestration("IndexRepositories", func(ctx durable.Context, org string) (map[string]int, error) {
	names, err := ListRepositories.Call(ctx, org).Await(ctx)
	if err != nil {
		return nil, err
	}
	futures := make([]durable.Future[int], len(names))
	for i, name := range names {
		futures[i] = CountOpenIssues.Call(ctx, RepoRef{Organization: org, Repository: name})
	}
	counts, err := durable.WhenAllOf(ctx, futures...)
	if err != nil {
		return nil, err
	}
	s := Summary{Organization: org, Repositories: len(names), Counts: map[string]int{}}
	for i, name := range names {
		s.Counts[name] = counts[i]
		s.OpenIssues += counts[i]
	}
	if _, err := saveSummary.Call(ctx, s).Await(ctx); err != nil {
		return nil, err
	}
	return s.Counts, nil
})
