package storage

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/azdurable/azdurable/internal/taskhub"
)

// CallCounter counts every HTTP request made through the clients whose
// pipelines carry its Policy: by service, task-hub resource category and
// operation, with failures and empty queue polls. It counts attempts, so
// SDK retries are included. Benchmarks use it; it is cheap enough to leave
// on.
type CallCounter struct {
	endpoints Endpoints
	mu        sync.Mutex
	counts    map[CallKey]int64
	failures  map[CallKey]int64
	empty     int64
	total     int64
}

// CallKey classifies a storage call.
type CallKey struct {
	// Service is "queue", "table" or "blob".
	Service string
	// Category is the task-hub resource kind: control, workitems, history,
	// instances, partitions, largemessages, applease, leases, or other.
	Category string
	// Operation is what the call did (dequeue, enqueue, delete, update,
	// batch, query, insert, merge, replace, upsert-merge, lease-renew, put,
	// download, create, …).
	Operation string
}

// String renders "service/category/operation".
func (k CallKey) String() string { return k.Service + "/" + k.Category + "/" + k.Operation }

// NewCallCounter returns a counter that recognises the account's endpoints.
func NewCallCounter(e Endpoints) *CallCounter {
	return &CallCounter{endpoints: e, counts: map[CallKey]int64{}, failures: map[CallKey]int64{}}
}

// Policy returns the pipeline policy; add it to ClientOptions.PerRetryPolicies.
func (c *CallCounter) Policy() policy.Policy { return counterPolicy{c} }

type counterPolicy struct{ c *CallCounter }

func (p counterPolicy) Do(req *policy.Request) (*http.Response, error) {
	key := p.c.classify(req)
	resp, err := req.Next()
	empty := false
	if err == nil && key.Service == "queue" && key.Operation == "dequeue" && resp.StatusCode == http.StatusOK {
		body, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		empty = rerr == nil && !bytes.Contains(body, []byte("<QueueMessage>"))
	}
	p.c.mu.Lock()
	p.c.total++
	p.c.counts[key]++
	if err != nil || resp.StatusCode >= 400 {
		p.c.failures[key]++
	}
	if empty {
		p.c.empty++
	}
	p.c.mu.Unlock()
	return resp, err
}

// CallStats is a snapshot of a CallCounter.
type CallStats struct {
	Total      int64
	EmptyPolls int64
	Counts     map[CallKey]int64
	Failures   map[CallKey]int64
}

// Snapshot returns the counts so far.
func (c *CallCounter) Snapshot() CallStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := CallStats{Total: c.total, EmptyPolls: c.empty, Counts: map[CallKey]int64{}, Failures: map[CallKey]int64{}}
	for k, v := range c.counts {
		s.Counts[k] = v
	}
	for k, v := range c.failures {
		s.Failures[k] = v
	}
	return s
}

// Reset zeroes the counts.
func (c *CallCounter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts, c.failures = map[CallKey]int64{}, map[CallKey]int64{}
	c.empty, c.total = 0, 0
}

// Sub returns the calls made between two snapshots (s minus earlier).
func (s CallStats) Sub(earlier CallStats) CallStats {
	out := CallStats{Total: s.Total - earlier.Total, EmptyPolls: s.EmptyPolls - earlier.EmptyPolls,
		Counts: map[CallKey]int64{}, Failures: map[CallKey]int64{}}
	for k, v := range s.Counts {
		if d := v - earlier.Counts[k]; d != 0 {
			out.Counts[k] = d
		}
	}
	for k, v := range s.Failures {
		if d := v - earlier.Failures[k]; d != 0 {
			out.Failures[k] = d
		}
	}
	return out
}

// By sums the counts grouped by f(key), sorted by group name.
func (s CallStats) By(f func(CallKey) string) []Group {
	m := map[string]int64{}
	for k, v := range s.Counts {
		m[f(k)] += v
	}
	out := make([]Group, 0, len(m))
	for name, n := range m {
		out = append(out, Group{Name: name, Calls: n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Group is a named sum of calls.
type Group struct {
	Name  string
	Calls int64
}

var tableNameInBody = regexp.MustCompile(`"TableName"\s*:\s*"([A-Za-z0-9]+)"`)

var batchTable = regexp.MustCompile(`/([A-Za-z][A-Za-z0-9]{2,62})\(PartitionKey=`)

// classify derives a call's key from its request.
func (c *CallCounter) classify(req *policy.Request) CallKey {
	r := req.Raw()
	service, rest := c.split(r.URL)
	k := CallKey{Service: service, Category: "other", Operation: strings.ToLower(r.Method)}
	segs := strings.Split(strings.Trim(rest, "/"), "/")
	resource := segs[0]
	q := r.URL.Query()
	switch service {
	case "queue":
		k.Category = queueCategory(resource)
		switch {
		case len(segs) >= 3 && segs[1] == "messages":
			k.Operation = map[string]string{"DELETE": "delete", "PUT": "update"}[r.Method]
		case len(segs) == 2 && segs[1] == "messages":
			switch r.Method {
			case http.MethodPost:
				k.Operation = "enqueue"
			case http.MethodGet:
				k.Operation = "dequeue"
				if strings.EqualFold(q.Get("peekonly"), "true") {
					k.Operation = "peek"
				}
			case http.MethodDelete:
				k.Operation = "clear"
			}
		case len(segs) == 1:
			k.Operation = map[string]string{"PUT": "create", "DELETE": "delete-queue", "GET": "properties", "HEAD": "properties"}[r.Method]
			if q.Get("comp") == "list" {
				k.Operation, k.Category = "list", "other"
			}
		}
	case "table":
		name := resource
		if i := strings.IndexByte(name, '('); i >= 0 {
			name = name[:i]
		}
		switch {
		case name == "$batch":
			k.Operation = "batch"
			if body := peekBody(req, 8192); body != nil {
				if m := batchTable.FindSubmatch(body); m != nil {
					name = string(m[1])
				}
			}
			k.Category = tableCategory(name)
		case name == "Tables":
			k.Operation = map[string]string{"POST": "create-table", "DELETE": "delete-table", "GET": "list-tables"}[r.Method]
			if strings.HasPrefix(resource, "Tables(") {
				k.Category = tableCategory(strings.Trim(strings.TrimPrefix(resource, "Tables("), "')"))
			} else if r.Method == http.MethodPost {
				if m := tableNameInBody.FindSubmatch(peekBody(req, 1024)); m != nil {
					k.Category = tableCategory(string(m[1]))
				}
			}
		default:
			k.Category = tableCategory(name)
			ifMatch := r.Header.Get("If-Match") != ""
			switch r.Method {
			case http.MethodGet:
				k.Operation = "query"
			case http.MethodPost:
				k.Operation = "insert"
			case http.MethodPut:
				k.Operation = map[bool]string{true: "replace", false: "upsert-replace"}[ifMatch]
			case http.MethodPatch, "MERGE":
				k.Operation = map[bool]string{true: "merge", false: "upsert-merge"}[ifMatch]
			case http.MethodDelete:
				k.Operation = "delete"
			}
		}
	case "blob":
		k.Category = containerCategory(resource)
		container := len(segs) == 1 || q.Get("restype") == "container"
		switch {
		case q.Get("comp") == "lease":
			k.Operation = "lease-" + strings.ToLower(header(r.Header, "x-ms-lease-action"))
		case q.Get("comp") == "list":
			k.Operation = "list"
		case q.Get("comp") == "block":
			k.Operation = "put-block"
		case q.Get("comp") == "blocklist":
			k.Operation = "put-block-list"
		case container:
			k.Operation = map[string]string{"PUT": "create-container", "DELETE": "delete-container", "GET": "container-properties", "HEAD": "container-properties"}[r.Method]
		default:
			k.Operation = map[string]string{"PUT": "put", "GET": "download", "HEAD": "properties", "DELETE": "delete"}[r.Method]
		}
	}
	if k.Operation == "" {
		k.Operation = strings.ToLower(r.Method)
	}
	return k
}

// split finds which endpoint a URL belongs to and returns the path below it.
func (c *CallCounter) split(u *url.URL) (service, rest string) {
	full := u.Scheme + "://" + u.Host + u.Path
	for _, e := range []struct{ name, base string }{{"queue", c.endpoints.Queue}, {"table", c.endpoints.Table}, {"blob", c.endpoints.Blob}} {
		base := strings.TrimRight(e.base, "/")
		if base != "" && strings.HasPrefix(full, base) {
			return e.name, strings.TrimPrefix(full, base)
		}
	}
	switch {
	case strings.Contains(u.Host, ".queue."):
		return "queue", u.Path
	case strings.Contains(u.Host, ".table."):
		return "table", u.Path
	case strings.Contains(u.Host, ".blob."):
		return "blob", u.Path
	}
	return "unknown", u.Path
}

// header reads a request header whether it was set canonically or, as the
// SDKs' generated code does for x-ms-* headers, under its lower-case name.
func header(h http.Header, name string) string {
	if v := h.Get(name); v != "" {
		return v
	}
	if v := h[strings.ToLower(name)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func peekBody(req *policy.Request, max int) []byte {
	body := req.Body()
	if body == nil {
		return nil
	}
	buf := make([]byte, max)
	n, _ := io.ReadFull(body, buf)
	if err := req.RewindBody(); err != nil {
		return nil
	}
	return buf[:n]
}

// The categories are the task hub core's resource kinds.
var (
	queueCategory     = taskhub.QueueKind
	tableCategory     = taskhub.TableKind
	containerCategory = taskhub.ContainerKind
)
