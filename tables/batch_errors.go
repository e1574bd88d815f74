package tables

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// Kinds of storage failure callers branch on. Errors from the stores are
// *Error values that wrap one of these (test with errors.Is) as well as the
// SDK's error (reach it with errors.As).
var (
	// ErrConflict means someone else wrote first: an insert found the
	// entity already there (409 EntityAlreadyExists), or a conditional
	// write found a different ETag (412 UpdateConditionNotSatisfied). In a
	// history transaction it means the history was written by another
	// worker and the checkpoint must be abandoned.
	ErrConflict = errors.New("conflict: the entity was written by someone else")
	// ErrNotFound means the entity does not exist (404 ResourceNotFound),
	// or, for InstanceStore.Get, that no Instances row exists.
	ErrNotFound = errors.New("entity not found")
	// ErrTableNotFound means the table does not exist (404 TableNotFound).
	ErrTableNotFound = errors.New("table not found")
)

// Error describes a failed table operation. It names the operation, the
// table and the keys, and for an entity-group transaction the failing
// operation, with the status and error code the service gave. It never
// holds entity contents or credentials.
type Error struct {
	// Op is the operation: "insert", "replace", "merge", "upsert",
	// "delete", "query", "transaction", "create table" or "delete table".
	Op string
	// Table is the table's name.
	Table string
	// PartitionKey and RowKey identify the entity; RowKey is empty when the
	// operation is not about one row.
	PartitionKey string
	RowKey       string
	// Index is the 0-based position of the failing operation inside a
	// transaction, or -1 when unknown or not a transaction. RowKey is that
	// operation's RowKey when Index is known.
	Index int
	// StatusCode is the HTTP status of the failure: for a transaction, the
	// status inside the multipart answer (the outer one is 202). Zero when
	// no answer came (network failure, canceled context, refused locally).
	StatusCode int
	// Code is the storage error code, e.g. "EntityAlreadyExists".
	Code string
	// Message is the first line of the service's message, without the
	// operation-index prefix.
	Message string
	// Err is the cause: usually the SDK's *azcore.ResponseError, or a
	// network or context error.
	Err error
}

// kind returns the sentinel error this failure is an instance of, or nil.
// Only the specific answers count: a 409 that is not EntityAlreadyExists
// is not a conflict, and a 404 from a missing table is not a missing
// entity. A 412 is a failed If-Match whatever its code.
func (e *Error) kind() error {
	switch e.StatusCode {
	case http.StatusConflict:
		// Other 409s (TableBeingDeleted, TableAlreadyExists, or one with no
		// code) say nothing about who owns the entity.
		if e.Code == "EntityAlreadyExists" {
			return ErrConflict
		}
	case http.StatusPreconditionFailed:
		return ErrConflict
	case http.StatusNotFound:
		if e.Code == "TableNotFound" {
			return ErrTableNotFound
		}
		return ErrNotFound
	}
	return nil
}

// Unwrap returns the kind (ErrConflict, ErrNotFound, ErrTableNotFound) when
// there is one, and the cause.
func (e *Error) Unwrap() []error {
	var out []error
	if k := e.kind(); k != nil {
		out = append(out, k)
	}
	if e.Err != nil {
		out = append(out, e.Err)
	}
	return out
}

// Error describes the failure in one line: operation, table, keys, status,
// code and the service's message, or the cause for failures without an
// answer (with any URL query removed).
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "tables: %s on table %s", e.Op, e.Table)
	if e.PartitionKey != "" {
		fmt.Fprintf(&b, ", partition %q", e.PartitionKey)
	}
	switch {
	case e.Index >= 0:
		fmt.Fprintf(&b, ", operation %d (row %q)", e.Index, e.RowKey)
	case e.RowKey != "" || entityOps[e.Op]:
		fmt.Fprintf(&b, ", row %q", e.RowKey)
	}
	b.WriteString(" failed: ")
	switch {
	case e.StatusCode != 0:
		fmt.Fprintf(&b, "%d", e.StatusCode)
		if e.Code != "" {
			b.WriteString(" " + e.Code)
		}
		if e.Message != "" {
			b.WriteString(": " + e.Message)
		}
		if k := e.kind(); k != nil {
			fmt.Fprintf(&b, " (%v)", k)
		}
	case e.Err != nil:
		b.WriteString(redactURLs(e.Err.Error()))
	default:
		b.WriteString("unknown error")
	}
	return b.String()
}

// entityOps are the operations about one entity, whose RowKey is worth
// naming even when empty (the Instances table's RowKey is "").
var entityOps = map[string]bool{"insert": true, "replace": true, "merge": true, "upsert": true, "delete": true}

// queryString matches the query part of a URL inside an error text. Network
// errors quote the request URL, and with a SAS credential its query holds
// the signature.
var queryString = regexp.MustCompile(`\?[^\s"']*`)

func redactURLs(s string) string { return queryString.ReplaceAllString(s, "?[query removed]") }

// entityError maps the answer to a single-entity or table operation.
func entityError(op, table, pk, rk string, err error) error {
	if err == nil {
		return nil
	}
	e := &Error{Op: op, Table: table, PartitionKey: pk, RowKey: rk, Index: -1, Err: err}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		e.StatusCode, e.Code = re.StatusCode, re.ErrorCode
		if re.RawResponse != nil {
			if body, perr := runtime.Payload(re.RawResponse); perr == nil {
				code, msg := serviceError(body)
				if e.Code == "" {
					e.Code = code
				}
				e.Message = msg
			}
		}
	}
	return e
}

// batchPart is one inner answer of an entity-group transaction.
type batchPart struct {
	Status  int
	ETag    string
	Code    string
	Message string
	// Index is the failing operation's position from the message prefix
	// ("1:The specified entity already exists."), or -1.
	Index int
}

// parseBatchResponse splits the multipart answer of a $batch request into
// its inner HTTP answers, in order. contentType is the outer Content-Type
// header; when it is empty the boundary is taken from the body's first
// line, as the service puts it there too.
func parseBatchResponse(contentType string, body []byte) ([]batchPart, error) {
	boundary := ""
	if _, params, err := mime.ParseMediaType(contentType); err == nil {
		boundary = params["boundary"]
	}
	if boundary == "" {
		boundary = firstLineBoundary(body)
	}
	if boundary == "" {
		return nil, errors.New("batch answer is not multipart")
	}
	outer := multipart.NewReader(bytes.NewReader(body), boundary)
	var parts []batchPart
	for {
		p, err := outer.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("batch answer: %w", err)
		}
		inner, err := readInner(p)
		if err != nil {
			return nil, err
		}
		parts = append(parts, inner...)
	}
	if len(parts) == 0 {
		return nil, errors.New("batch answer holds no operation answers")
	}
	return parts, nil
}

func firstLineBoundary(body []byte) string {
	line, _, _ := bytes.Cut(body, []byte("\n"))
	line = bytes.TrimRight(line, "\r")
	if !bytes.HasPrefix(line, []byte("--")) || len(line) < 3 {
		return ""
	}
	return string(line[2:])
}

// readInner reads one part of the outer multipart: either a changeset
// (itself multipart) or a single application/http answer.
func readInner(p *multipart.Part) ([]batchPart, error) {
	mt, params, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
	if err == nil && strings.HasPrefix(mt, "multipart/") && params["boundary"] != "" {
		cs := multipart.NewReader(p, params["boundary"])
		var out []batchPart
		for {
			q, err := cs.NextPart()
			if err == io.EOF {
				return out, nil
			}
			if err != nil {
				return nil, fmt.Errorf("batch answer changeset: %w", err)
			}
			bp, err := readHTTPPart(q)
			if err != nil {
				return nil, err
			}
			out = append(out, bp)
		}
	}
	bp, err := readHTTPPart(p)
	if err != nil {
		return nil, err
	}
	return []batchPart{bp}, nil
}

func readHTTPPart(r io.Reader) (batchPart, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return batchPart{}, fmt.Errorf("batch answer part: %w", err)
	}
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw)))
	line, err := tp.ReadLine()
	if err != nil {
		return batchPart{}, fmt.Errorf("batch answer part: no status line: %w", err)
	}
	// "HTTP/1.1 409 Conflict"
	_, rest, ok := strings.Cut(line, " ")
	codeText, _, _ := strings.Cut(rest, " ")
	status, cerr := strconv.Atoi(codeText)
	if !ok || cerr != nil || !strings.HasPrefix(line, "HTTP/") {
		return batchPart{}, fmt.Errorf("batch answer part: bad status line %.60q", line)
	}
	hdr, err := tp.ReadMIMEHeader()
	if err != nil && !(errors.Is(err, io.EOF) && hdr != nil) {
		return batchPart{}, fmt.Errorf("batch answer part headers: %w", err)
	}
	bp := batchPart{Status: status, ETag: hdr.Get("ETag"), Index: -1}
	if status >= 400 {
		body, _ := io.ReadAll(tp.R)
		code, msg := serviceError(body)
		bp.Code = code
		bp.Index, bp.Message = splitIndex(msg)
	}
	return bp, nil
}

// serviceError extracts the error code and the first line of the message
// from an error body: OData JSON ({"odata.error":{"code","message":{"value"}}})
// or XML (<code>…</code><message>…</message>).
func serviceError(body []byte) (code, message string) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return "", ""
	}
	if body[0] == '{' {
		var doc struct {
			OData *struct {
				Code    string `json:"code"`
				Message struct {
					Value string `json:"value"`
				} `json:"message"`
			} `json:"odata.error"`
		}
		if json.Unmarshal(body, &doc) == nil && doc.OData != nil {
			return doc.OData.Code, firstLine(doc.OData.Message.Value)
		}
		return "", ""
	}
	if m := xmlCode.FindSubmatch(body); m != nil {
		code = string(m[1])
	}
	if m := xmlMessage.FindSubmatch(body); m != nil {
		message = firstLine(string(m[1]))
	}
	return code, message
}

var (
	xmlCode    = regexp.MustCompile(`<(?:\w+:)?code>\s*([A-Za-z0-9]+)\s*</(?:\w+:)?code>`)
	xmlMessage = regexp.MustCompile(`(?s)<(?:\w+:)?message[^>]*>(.*?)</(?:\w+:)?message>`)
)

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.TrimSpace(s)
}

// splitIndex separates the "N:" prefix the service puts before the message
// of a failed transaction operation (N is the 0-based operation index).
func splitIndex(msg string) (int, string) {
	head, tail, ok := strings.Cut(msg, ":")
	if !ok || head == "" || len(head) > 3 {
		return -1, msg
	}
	n, err := strconv.Atoi(head)
	if err != nil || n < 0 {
		return -1, msg
	}
	return n, tail
}

// transactionError maps the failure of SubmitTransaction. The service
// answers a failed changeset with 202 Accepted and the real status in the
// multipart body; the SDK turns that into a ResponseError with StatusCode
// 202 and no code. The inner status, code and failing operation are
// recovered here, so that a stale sentinel (412) or an existing row (409)
// is an ErrConflict and everything else is not. rowKeys are the RowKeys of
// the operations, in order, to name the failing one.
func transactionError(table, pk string, rowKeys []string, err error) error {
	e := &Error{Op: "transaction", Table: table, PartitionKey: pk, Index: -1, Err: err}
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return e
	}
	e.StatusCode, e.Code = re.StatusCode, re.ErrorCode
	if re.RawResponse == nil {
		return e
	}
	body, perr := runtime.Payload(re.RawResponse)
	if perr != nil {
		return e
	}
	if re.StatusCode != http.StatusAccepted {
		// The whole request was refused (bad body, auth, missing table on
		// some service versions): an ordinary error answer.
		code, msg := serviceError(body)
		if e.Code == "" {
			e.Code = code
		}
		e.Message = msg
		return e
	}
	parts, perr := parseBatchResponse(re.RawResponse.Header.Get("Content-Type"), body)
	if perr != nil {
		e.Message = "unreadable batch answer: " + perr.Error()
		return e
	}
	for i, p := range parts {
		if p.Status < 400 {
			continue
		}
		e.StatusCode, e.Code, e.Message = p.Status, p.Code, p.Message
		e.Index = p.Index
		if e.Index < 0 && len(parts) == len(rowKeys) {
			e.Index = i // one answer per operation: the position tells
		}
		if e.Index >= 0 && e.Index < len(rowKeys) {
			e.RowKey = rowKeys[e.Index]
		} else {
			e.Index = -1
		}
		return e
	}
	e.Message = "batch answer reports no failed operation"
	return e
}
