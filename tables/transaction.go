package tables

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// MaxTransactionOps is the most operations one entity-group transaction
// may hold. The service (and Azurite) cannot be relied on to refuse more
// cleanly, so transactions are checked before they are sent.
const MaxTransactionOps = 100

// ErrUnknownETag is wrapped by the error of a transaction that the service
// committed but whose answer did not give an ETag for the operation that
// needs one (the sentinel). The caller must treat the history as written by
// an unknown party: abandon and reload, never retry with the old ETag.
var ErrUnknownETag = errors.New("the transaction was committed but its answer does not carry the ETag of the last operation")

// txOp is one operation of an entity-group transaction.
type txOp struct {
	typ    aztables.TransactionType
	entity *Entity
	// ifMatch is the If-Match ETag for a conditional merge, replace or
	// delete; "" sends none (for a merge that means insert-or-merge).
	ifMatch string
}

// checkTransaction refuses transactions the service would reject or that
// Azurite would wrongly accept: empty, over MaxTransactionOps operations,
// more than one PartitionKey (Azurite accepts that, Azure does not), or a
// RowKey twice.
func checkTransaction(table string, ops []txOp) error {
	refuse := func(format string, args ...any) error {
		return &Error{Op: "transaction", Table: table, Index: -1,
			Err: fmt.Errorf("refused before sending: "+format, args...)}
	}
	if len(ops) == 0 {
		return refuse("no operations")
	}
	if len(ops) > MaxTransactionOps {
		return refuse("%d operations; a transaction holds at most %d", len(ops), MaxTransactionOps)
	}
	pk := ops[0].entity.PartitionKey
	seen := make(map[string]bool, len(ops))
	for i, op := range ops {
		if op.entity.PartitionKey != pk {
			e := refuse("operation %d has PartitionKey %q but operation 0 has %q; a transaction must stay in one partition", i, op.entity.PartitionKey, pk)
			e.(*Error).PartitionKey = pk
			return e
		}
		if seen[op.entity.RowKey] {
			e := refuse("RowKey %q appears twice", op.entity.RowKey)
			e.(*Error).PartitionKey = pk
			return e
		}
		seen[op.entity.RowKey] = true
	}
	return nil
}

// submitTransaction sends ops as one entity-group transaction and returns
// the ETag the service gave for each operation ("" for deletes). The SDK's
// TransactionResponse is empty, so the answer is captured from the
// pipeline (runtime.WithCaptureResponse) and its multipart body parsed
// here; this costs no extra request. Failures are mapped by
// transactionError.
func submitTransaction(ctx context.Context, c *aztables.Client, table string, ops []txOp) ([]string, error) {
	if err := checkTransaction(table, ops); err != nil {
		return nil, err
	}
	pk := ops[0].entity.PartitionKey
	actions := make([]aztables.TransactionAction, len(ops))
	rowKeys := make([]string, len(ops))
	for i, op := range ops {
		var body []byte
		var err error
		if op.typ == aztables.TransactionTypeDelete {
			body, err = MarshalEntity(&Entity{PartitionKey: op.entity.PartitionKey, RowKey: op.entity.RowKey})
		} else {
			body, err = MarshalEntity(op.entity)
		}
		if err != nil {
			return nil, &Error{Op: "transaction", Table: table, PartitionKey: pk, RowKey: op.entity.RowKey, Index: i, Err: err}
		}
		actions[i] = aztables.TransactionAction{ActionType: op.typ, Entity: body}
		if op.ifMatch != "" {
			etag := azcore.ETag(op.ifMatch)
			actions[i].IfMatch = &etag
		}
		rowKeys[i] = op.entity.RowKey
	}
	var raw *http.Response
	_, err := c.SubmitTransaction(runtime.WithCaptureResponse(ctx, &raw), actions, nil)
	if err != nil {
		return nil, transactionError(table, pk, rowKeys, err)
	}
	unknown := func(why string) error {
		return &Error{Op: "transaction", Table: table, PartitionKey: pk, Index: -1,
			Err: fmt.Errorf("%w: %s", ErrUnknownETag, why)}
	}
	if raw == nil {
		return nil, unknown("no answer was captured")
	}
	body, err := runtime.Payload(raw)
	if err != nil {
		return nil, unknown("reading the answer: " + err.Error())
	}
	parts, err := parseBatchResponse(raw.Header.Get("Content-Type"), body)
	if err != nil {
		return nil, unknown(err.Error())
	}
	if len(parts) != len(ops) {
		return nil, unknown(fmt.Sprintf("the answer has %d parts for %d operations", len(parts), len(ops)))
	}
	etags := make([]string, len(ops))
	for i, p := range parts {
		etags[i] = p.ETag
	}
	return etags, nil
}
