package bench

import (
	"context"
	"log/slog"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/storage"
)

// counted returns client options whose storage calls counter counts.
func counted(counter *storage.CallCounter) *storage.ClientOptions {
	return &storage.ClientOptions{PerRetryPolicies: []policy.Policy{counter.Policy()}}
}

// observeHub returns an uncounted backend of the hub for what the bench
// itself reads, and a function that deletes the hub once the run is over
// (within a minute, even when ctx has ended).
func observeHub(ctx context.Context, acct *storage.Account, hub string, partitions int, log *slog.Logger) (*azurestorage.Backend, func(), error) {
	obs, err := azurestorage.New(azurestorage.Options{TaskHub: hub, Account: acct, Partitions: partitions, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	return obs, func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_ = obs.DeleteTaskHub(dctx)
	}, nil
}
