package bench

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/azdurable/azdurable/storage"
)

// Ceiling is what the storage endpoint does with raw calls, and what that
// means for the scenario's call mix.
type Ceiling struct {
	Concurrency                    int     `json:"concurrency"`
	EnqueuePerSecond               float64 `json:"enqueuePerSecond"`
	DequeueDeleteMessagesPerSecond float64 `json:"dequeueDeleteMessagesPerSecond"`
	DequeueDeleteCallsPerSecond    float64 `json:"dequeueDeleteCallsPerSecond"`
	TableBatchPerSecond            float64 `json:"tableBatchPerSecond"`
	TableWritePerSecond            float64 `json:"tableWritePerSecond"`
	// Implied maxima: the scenario's calls (setup left out), each costing
	// what its kind costs at the rates above, in sequence.
	ImpliedMaxActivitiesPerSecond     float64 `json:"impliedMaxActivitiesPerSecond"`
	ImpliedMaxOrchestrationsPerSecond float64 `json:"impliedMaxOrchestrationsPerSecond"`
	// AchievedRatio is activities/s (orchestrations/s without activities)
	// over the implied maximum.
	AchievedRatio float64 `json:"achievedRatio"`
	Model         string  `json:"model"`
}

// payload is about the size of an activity's TaskScheduled message.
var ceilingPayload = strings.Repeat("x", 600)

// MeasureCeiling measures raw operation rates on the account with
// concurrency callers, each operation for about d: enqueue, dequeue of 32
// followed by a delete of each message, a table batch of 10 rows, and a
// single-entity table write.
func MeasureCeiling(ctx context.Context, acct *storage.Account, concurrency int, d time.Duration) (*Ceiling, error) {
	qsvc, err := acct.QueueService(nil)
	if err != nil {
		return nil, err
	}
	tsvc, err := acct.TableService(nil)
	if err != nil {
		return nil, err
	}
	suffix := strings.ToLower(rand.Text()[:10])
	q := qsvc.NewQueueClient("benchceiling-" + suffix)
	if _, err := q.Create(ctx, nil); err != nil {
		return nil, err
	}
	defer q.Delete(context.WithoutCancel(ctx), nil)
	table := "BenchCeiling" + suffix
	tc := tsvc.NewClient(table)
	if _, err := tc.CreateTable(ctx, nil); err != nil {
		return nil, err
	}
	defer tc.Delete(context.WithoutCancel(ctx), nil)

	c := &Ceiling{Concurrency: concurrency}
	n, secs, err := hammer(ctx, concurrency, d, func(ctx context.Context, _ int, _ int64) (int64, error) {
		_, err := q.EnqueueMessage(ctx, ceilingPayload, &azqueue.EnqueueMessageOptions{TimeToLive: to.Ptr(int32(-1))})
		return 1, err
	})
	if err != nil {
		return nil, fmt.Errorf("enqueue: %w", err)
	}
	c.EnqueuePerSecond = round(float64(n)/secs, 0)

	var callsMade atomic.Int64
	n, secs, err = hammer(ctx, concurrency, d, func(ctx context.Context, _ int, _ int64) (int64, error) {
		resp, err := q.DequeueMessages(ctx, &azqueue.DequeueMessagesOptions{NumberOfMessages: to.Ptr(int32(32)), VisibilityTimeout: to.Ptr(int32(60))})
		callsMade.Add(1)
		if err != nil {
			return 0, err
		}
		if len(resp.Messages) == 0 {
			return 0, errEmpty
		}
		for _, m := range resp.Messages {
			if _, err := q.DeleteMessage(ctx, *m.MessageID, *m.PopReceipt, nil); err != nil {
				return 0, err
			}
			callsMade.Add(1)
		}
		return int64(len(resp.Messages)), nil
	})
	if err != nil {
		return nil, fmt.Errorf("dequeue and delete: %w", err)
	}
	c.DequeueDeleteMessagesPerSecond = round(float64(n)/secs, 0)
	c.DequeueDeleteCallsPerSecond = round(float64(callsMade.Load())/secs, 0)

	row := func(pk, rk string) []byte {
		b, _ := json.Marshal(map[string]any{"PartitionKey": pk, "RowKey": rk, "EventType": "TaskScheduled",
			"Name": "SayHello", "Timestamp@odata.type": "Edm.DateTime", "Timestamp": time.Now().UTC().Format(time.RFC3339Nano),
			"ExecutionId": suffix, "EventId": 1, "IsPlayed": false})
		return b
	}
	n, secs, err = hammer(ctx, concurrency, d, func(ctx context.Context, g int, i int64) (int64, error) {
		pk := fmt.Sprintf("p%d", g)
		ops := make([]aztables.TransactionAction, 10)
		for k := range ops {
			ops[k] = aztables.TransactionAction{ActionType: aztables.TransactionTypeInsertReplace, Entity: row(pk, fmt.Sprintf("%016d", i*10+int64(k)))}
		}
		_, err := tc.SubmitTransaction(ctx, ops, nil)
		return 1, err
	})
	if err != nil {
		return nil, fmt.Errorf("table batch: %w", err)
	}
	c.TableBatchPerSecond = round(float64(n)/secs, 0)

	n, secs, err = hammer(ctx, concurrency, d, func(ctx context.Context, g int, i int64) (int64, error) {
		_, err := tc.UpsertEntity(ctx, row(fmt.Sprintf("w%d-%d", g, i%50), ""), &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeMerge})
		return 1, err
	})
	if err != nil {
		return nil, fmt.Errorf("table write: %w", err)
	}
	c.TableWritePerSecond = round(float64(n)/secs, 0)
	return c, nil
}

var errEmpty = fmt.Errorf("empty")

// hammer runs f from concurrency goroutines for about d and returns the sum
// of what f returned and the seconds taken. errEmpty from f ends that
// goroutine early without failing.
func hammer(ctx context.Context, concurrency int, d time.Duration, f func(ctx context.Context, g int, i int64) (int64, error)) (int64, float64, error) {
	var total atomic.Int64
	var first error
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(d)
	for g := 0; g < concurrency; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int64(0); time.Now().Before(end) && ctx.Err() == nil; i++ {
				n, err := f(ctx, g, i)
				if err == errEmpty {
					return
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
				total.Add(n)
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return total.Load(), time.Since(start).Seconds(), first
}

// judge computes the implied maxima for the result's call mix.
func (c *Ceiling) judge(r *Result) *Ceiling {
	out := *c
	cost := func(k string) float64 {
		parts := strings.SplitN(k, "/", 3)
		svc, op := parts[0], parts[len(parts)-1]
		rate := c.TableWritePerSecond
		switch {
		case svc == "queue" && op == "enqueue":
			rate = c.EnqueuePerSecond
		case svc == "queue":
			rate = c.DequeueDeleteCallsPerSecond
		case svc == "table" && op == "batch":
			rate = c.TableBatchPerSecond
		}
		if rate <= 0 {
			return 0
		}
		return 1 / rate
	}
	seconds := 0.0
	for k, n := range r.RunByOperation {
		seconds += float64(n) * cost(k)
	}
	out.Model = "each call costs 1/rate of its kind at the concurrency above (enqueue; other queue calls at the dequeue+delete call rate; table batches; other table and blob calls at the single-write rate), summed over the scenario's calls without setup"
	if seconds <= 0 {
		return &out
	}
	if r.Activities > 0 {
		out.ImpliedMaxActivitiesPerSecond = round(float64(r.Activities)/seconds, 1)
		out.AchievedRatio = round(r.ActivitiesPerSecond/out.ImpliedMaxActivitiesPerSecond, 2)
	}
	out.ImpliedMaxOrchestrationsPerSecond = round(float64(r.Orchestrations)/seconds, 2)
	if r.Activities == 0 && out.ImpliedMaxOrchestrationsPerSecond > 0 {
		out.AchievedRatio = round(r.OrchestrationsPerSecond/out.ImpliedMaxOrchestrationsPerSecond, 2)
	}
	return &out
}
