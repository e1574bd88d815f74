package tables

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// The testdata/batch-*.txt files are $batch answers recorded from Azurite
// 3.37.0 (SubmitTransaction with the answer captured from the pipeline):
// a committed transaction of two InsertOrReplace rows and a sentinel
// Insert; an Insert of an existing sentinel (409); a Merge with a stale
// ETag (412); a Merge with If-Match of a missing row (404); a property
// over 64 KiB (400); and a transaction on a missing table (404).
var recordedAnswers = []struct {
	file    string
	status  int
	code    string
	index   int
	kind    error
	rowKeys []string
}{
	{"batch-409-insert.txt", 409, "EntityAlreadyExists", 1, ErrConflict, []string{"0000000000000002", SentinelRowKey}},
	{"batch-412-merge.txt", 412, "UpdateConditionNotSatisfied", 1, ErrConflict, []string{"0000000000000002", SentinelRowKey}},
	{"batch-404-merge.txt", 404, "ResourceNotFound", 2, ErrNotFound, []string{"0000000000000002", "0000000000000003", "nope"}},
	{"batch-400-too-large.txt", 400, "PropertyValueTooLarge", 1, nil, []string{"0000000000000002", "0000000000000003"}},
	{"batch-404-table.txt", 404, "TableNotFound", 0, ErrTableNotFound, []string{"0000000000000000"}},
}

func readAnswer(t *testing.T, file string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sdkFailure builds the error SubmitTransaction returns for a failed
// changeset: a ResponseError with the outer 202 and the multipart body.
func sdkFailure(body []byte) error {
	resp := &http.Response{StatusCode: 202, Status: "202 Accepted", Header: http.Header{},
		Body: io.NopCloser(bytes.NewReader(body))}
	return &azcore.ResponseError{StatusCode: 202, RawResponse: resp}
}

func TestParseRecordedBatchAnswers(t *testing.T) {
	parts, err := parseBatchResponse("", readAnswer(t, "batch-success.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 3 {
		t.Fatalf("%d parts, want 3", len(parts))
	}
	for i, p := range parts {
		if p.Status != 204 || !strings.HasPrefix(p.ETag, `W/"datetime'`) || p.Code != "" {
			t.Errorf("part %d: %+v", i, p)
		}
	}
	for _, tc := range recordedAnswers {
		parts, err := parseBatchResponse("", readAnswer(t, tc.file))
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if len(parts) != 1 || parts[0].Status != tc.status || parts[0].Code != tc.code || parts[0].Index != tc.index ||
			parts[0].Message == "" || strings.Contains(parts[0].Message, "RequestId") {
			t.Errorf("%s: %+v", tc.file, parts)
		}
	}
}

// Only the 409 and 412 answers are conflicts; a 404, a 400 and a missing
// table are other failures, each naming the failing operation.
func TestTransactionErrorOnRecordedAnswers(t *testing.T) {
	for _, tc := range recordedAnswers {
		err := transactionError("HubHistory", "myorch-1", tc.rowKeys, sdkFailure(readAnswer(t, tc.file)))
		var te *Error
		if !errors.As(err, &te) {
			t.Fatalf("%s: %T", tc.file, err)
		}
		if te.StatusCode != tc.status || te.Code != tc.code || te.Index != tc.index || te.RowKey != tc.rowKeys[tc.index] {
			t.Errorf("%s: %+v", tc.file, te)
		}
		for _, kind := range []error{ErrConflict, ErrNotFound, ErrTableNotFound} {
			if got := errors.Is(err, kind); got != (kind == tc.kind) {
				t.Errorf("%s: errors.Is(%v) = %v", tc.file, kind, got)
			}
		}
		var re *azcore.ResponseError
		if !errors.As(err, &re) {
			t.Errorf("%s: the SDK error is not reachable", tc.file)
		}
		if msg := err.Error(); !strings.Contains(msg, tc.code) || !strings.Contains(msg, "HubHistory") ||
			!strings.Contains(msg, `"`+tc.rowKeys[tc.index]+`"`) {
			t.Errorf("%s: message %q", tc.file, msg)
		}
	}
}

// Answers that cannot be read are failures, never conflicts.
func TestTransactionErrorUnreadableAnswers(t *testing.T) {
	for name, err := range map[string]error{
		"garbage":     sdkFailure([]byte("this is not multipart")),
		"no failures": sdkFailure(readAnswer(t, "batch-success.txt")),
		"truncated":   sdkFailure(readAnswer(t, "batch-409-insert.txt")[:200]),
		"network":     errors.New("connection reset"),
		"outer 409": &azcore.ResponseError{StatusCode: 409, ErrorCode: "TableBeingDeleted", RawResponse: &http.Response{
			StatusCode: 409, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(`{"odata.error":{"code":"TableBeingDeleted","message":{"value":"The table is being deleted."}}}`))}},
	} {
		got := transactionError("T", "p", []string{"a"}, err)
		if errors.Is(got, ErrConflict) || errors.Is(got, ErrNotFound) {
			t.Errorf("%s: %v classified as a conflict or not-found", name, got)
		}
		var te *Error
		if !errors.As(got, &te) || te.Index != -1 {
			t.Errorf("%s: %+v", name, te)
		}
	}
}

// Error texts never carry a URL's query (a SAS signature lives there).
func TestErrorRedactsQuery(t *testing.T) {
	cause := &url.Error{Op: "Post", URL: "https://acct.table.core.windows.net/$batch?sv=2020&sig=SECRETSIG", Err: errors.New("dial tcp: i/o timeout")}
	msg := transactionError("T", "p", []string{"a"}, cause).Error()
	if strings.Contains(msg, "SECRETSIG") || !strings.Contains(msg, "i/o timeout") {
		t.Fatalf("message %q", msg)
	}
}

// Real 409s, 412s and 400s from Azurite, through the store: conflicts are
// ErrConflict on the sentinel; an oversized column written without
// offloading is a plain failure whose text carries no payload.
func TestTransactionErrorsOnAzurite(t *testing.T) {
	e := newEnv(t, nil)
	c := testCtx(t)
	first, err := e.hist.Append(c, "i", "x", 0, someEvents(2, "a"), "")
	if err != nil {
		t.Fatal(err)
	}
	_, err409 := e.hist.Append(c, "i", "x", 2, someEvents(1, "b"), "")
	stale := first.ETag
	if _, err := e.hist.Append(c, "i", "x", 2, someEvents(1, "c"), first.ETag); err != nil {
		t.Fatal(err)
	}
	_, err412 := e.hist.Append(c, "i", "x", 3, someEvents(1, "d"), stale)
	for name, tc := range map[string]struct {
		err    error
		status int
	}{"409": {err409, 409}, "412": {err412, 412}} {
		var te *Error
		if !errors.Is(tc.err, ErrConflict) || !errors.As(tc.err, &te) || te.StatusCode != tc.status ||
			te.Index != 1 || te.RowKey != SentinelRowKey {
			t.Errorf("%s: %v", name, tc.err)
		}
	}

	huge := strings.Repeat("P", 70000)
	ev := raised("big", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	ev.Input = &huge
	ops := []txOp{
		{typ: aztables.TransactionTypeInsertReplace, entity: HistoryRow("i", "x", 4, ev)}, // not offloaded
		{typ: aztables.TransactionTypeUpdateMerge, entity: SentinelRow("i", "x", true, time.Time{}), ifMatch: "*"},
	}
	_, err400 := submitTransaction(c, e.hist.client, e.histName, ops)
	var te *Error
	if !errors.As(err400, &te) || te.StatusCode != 400 || te.Code != "PropertyValueTooLarge" || te.Index != 0 ||
		errors.Is(err400, ErrConflict) || strings.Contains(err400.Error(), "PPPP") {
		t.Fatalf("oversized column: %v", err400)
	}
}

// Transactions the service would refuse, or that Azurite would wrongly
// accept (several PartitionKeys), are refused before any request is sent.
func TestTransactionRefusedBeforeSending(t *testing.T) {
	e := newEnv(t, nil)
	c := testCtx(t)
	row := func(pk, rk string) txOp {
		return txOp{typ: aztables.TransactionTypeInsertReplace, entity: &Entity{PartitionKey: pk, RowKey: rk}}
	}
	var tooMany []txOp
	for i := range MaxTransactionOps + 1 {
		tooMany = append(tooMany, row("p", RowKeyFor(i)))
	}
	for name, ops := range map[string][]txOp{
		"mixed partitions": {row("p", "1"), row("q", "2")},
		"101 operations":   tooMany,
		"duplicate row":    {row("p", "1"), row("p", "1")},
		"empty":            nil,
	} {
		_, err := submitTransaction(c, e.hist.client, e.histName, ops)
		var te *Error
		if err == nil || !errors.As(err, &te) || te.StatusCode != 0 || errors.Is(err, ErrConflict) ||
			!strings.Contains(err.Error(), "refused before sending") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if n := e.calls.Snapshot().Total; n != 0 {
		t.Fatalf("%d storage calls made, want none", n)
	}
	// Exactly 100 operations in one partition are fine.
	if _, err := submitTransaction(c, e.hist.client, e.histName, tooMany[:MaxTransactionOps]); err != nil {
		t.Fatal(err)
	}
	if rows := e.rawRows(t, e.histName, "p"); len(rows) != MaxTransactionOps {
		t.Fatalf("%d rows, want %d", len(rows), MaxTransactionOps)
	}
}
