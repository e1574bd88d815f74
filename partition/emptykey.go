package partition

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/azdurable/azdurable/storage"
)

// aztables v1.4.1 validates that the PartitionKey of Update, Merge, Delete
// and Get requests is non-empty before it sends them ("parameter
// partitionKey cannot be empty"), although the service accepts "" and every
// Partitions row C# writes has it. The SDK is therefore asked to replace a
// row whose PartitionKey is emptyKeyMarker, on a context marked by
// withEmptyKey, and emptyKeyPolicy (a per-call policy, so it runs before the
// shared-key signature is computed) turns the marker back into "" in the
// URL and in the body. Requests without the context mark pass untouched.
const emptyKeyMarker = "azdurable-empty-partition-key"

type emptyKeyCtx struct{}

func withEmptyKey(ctx context.Context) context.Context {
	return context.WithValue(ctx, emptyKeyCtx{}, true)
}

type emptyKeyPolicy struct{}

func (emptyKeyPolicy) Do(req *policy.Request) (*http.Response, error) {
	if marked, _ := req.Raw().Context().Value(emptyKeyCtx{}).(bool); !marked {
		return req.Next()
	}
	u := req.Raw().URL
	if !strings.Contains(u.Path, emptyKeyMarker) {
		return nil, errors.New("partition: empty-key request without the marker key in its URL")
	}
	u.Path = strings.Replace(u.Path, emptyKeyMarker, "", 1)
	u.RawPath = strings.Replace(u.RawPath, emptyKeyMarker, "", 1)
	if body := req.Body(); body != nil {
		data, err := io.ReadAll(body)
		if err != nil {
			return nil, fmt.Errorf("partition: read request body: %w", err)
		}
		quoted := []byte(`"` + emptyKeyMarker + `"`)
		if bytes.Count(data, quoted) != 1 {
			return nil, errors.New("partition: empty-key request body does not hold the marker key once")
		}
		data = bytes.Replace(data, quoted, []byte(`""`), 1)
		if err := req.SetBody(streaming.NopCloser(bytes.NewReader(data)), req.Raw().Header.Get("Content-Type")); err != nil {
			return nil, err
		}
	}
	return req.Next()
}

// rowWriter writes Partitions rows through a table client whose pipeline
// carries emptyKeyPolicy.
type rowWriter struct {
	tc *aztables.Client
}

func newRowWriter(acct *storage.Account, table string, o *storage.ClientOptions) (*rowWriter, *aztables.ServiceClient, error) {
	var co storage.ClientOptions
	if o != nil {
		co = *o
	}
	co.PerCallPolicies = append(append([]policy.Policy(nil), co.PerCallPolicies...), emptyKeyPolicy{})
	svc, err := acct.TableService(&co)
	if err != nil {
		return nil, nil, err
	}
	return &rowWriter{tc: svc.NewClient(table)}, svc, nil
}

// replace writes r over the stored row with If-Match: r.ETag.
func (w *rowWriter) replace(ctx context.Context, r Row) (azcore.ETag, error) {
	resp, err := w.tc.UpdateEntity(withEmptyKey(ctx), r.encode(emptyKeyMarker), &aztables.UpdateEntityOptions{
		UpdateMode: aztables.UpdateModeReplace,
		IfMatch:    to.Ptr(r.ETag),
	})
	if err != nil {
		return "", err
	}
	return resp.ETag, nil
}
