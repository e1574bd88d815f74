package tables

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/azdurable/azdurable/internal/taskhub"
)

// MaxColumnUTF16Bytes is the size above which a large-value column is moved
// to a blob: 61,440 bytes of UTF-16 (30,720 code units).
const MaxColumnUTF16Bytes = taskhub.MaxColumnUTF16Bytes

// blobNameSuffix is appended to a column name to name the column that holds
// the blob name of its offloaded value.
const blobNameSuffix = "BlobName"

// largeColumns are the columns that may be offloaded, in the order C#
// checks them (which is also the order of the added …BlobName columns).
var largeColumns = [...]string{
	"Name", "Input", "Result", "Output", "Reason", "Details", "Correlation", "FailureDetails", "Tags",
}

// LargeColumns returns the names of the columns that may be offloaded to
// blobs, in the order they are checked.
func LargeColumns() []string { return append([]string(nil), largeColumns[:]...) }

// UTF16Len returns the length of s in UTF-16 code units, as .NET counts a
// string's Length.
func UTF16Len(s string) int { return taskhub.UTF16Len(s) }

// ExceedsColumnLimit reports whether a string value is too large to stay in
// its column: more than MaxColumnUTF16Bytes of UTF-16.
func ExceedsColumnLimit(s string) bool { return taskhub.ExceedsColumnLimit(s) }

// HistoryBlobName returns the name of the blob that holds an offloaded
// column, relative to the {hub}-largemessages container:
//
//	{partitionKey}/history-{rowKey}-{kind}-{random:8 upper hex}-{column}.json.gz
//
// partitionKey is the escaped instance id. kind is the row's EventType, or
// for an Instances row (no EventType, RowKey "") the column name Input,
// Output or Tags. C# draws random from a non-negative 32-bit range.
func HistoryBlobName(partitionKey, rowKey, kind string, random uint32, column string) string {
	return fmt.Sprintf("%s/history-%s-%s-%08X-%s.json.gz", partitionKey, rowKey, kind, random, column)
}

// LargeValue is one column value that lives in a blob of the
// {hub}-largemessages container.
type LargeValue struct {
	// Column is the column whose value was moved, e.g. "Result".
	Column string
	// BlobName is the blob's name relative to the container.
	BlobName string
	// Text is the full column value. On write, upload the gzip of its UTF-8
	// bytes as a block blob (overwrite). On read it is empty; download,
	// gunzip, decode as UTF-8 and pass the text to ResolveLargeColumn.
	Text string
}

// OffloadLargeColumns prepares e for writing when some of its large-value
// columns (LargeColumns) exceed the limit, as C# does for history rows and
// for the client's Instances insert: each such column is set to "" in place
// and a String column "<Column>BlobName" holding the blob name is appended
// (for a history row, after ExecutionId). It returns what must be uploaded
// before the row is written, in column order; nil when nothing is too large.
//
// random supplies the 32-bit random part of each blob name; nil uses an
// unseeded source (C# uses new Random().Next(), a non-negative int).
// It fails only when a column other than Input, Output or Tags is too large
// on an entity without EventType, for which C# has no blob name either.
func OffloadLargeColumns(e *Entity, random func() uint32) ([]LargeValue, error) {
	return offload(e, random, func(v LargeValue) {
		e.Set(v.Column, "")
		e.Set(v.Column+blobNameSuffix, v.BlobName)
	})
}

// OffloadLargeColumnsToURL is the Instances-table variant used when C#
// terminates an instance that has no history (§2.3.4 of the tables spec):
// each oversized column is replaced in place by the blob's absolute URL
// (BlobURL(containerURL, name)) and no …BlobName column is added.
func OffloadLargeColumnsToURL(e *Entity, containerURL string, random func() uint32) ([]LargeValue, error) {
	return offload(e, random, func(v LargeValue) {
		e.Set(v.Column, BlobURL(containerURL, v.BlobName))
	})
}

func offload(e *Entity, random func() uint32, apply func(LargeValue)) ([]LargeValue, error) {
	if random == nil {
		random = func() uint32 { return rand.Uint32() >> 1 }
	}
	var out []LargeValue
	for _, col := range largeColumns {
		s, ok := e.GetString(col)
		if !ok || !ExceedsColumnLimit(s) {
			continue
		}
		kind, ok := e.GetString(colEventType)
		if !ok {
			switch col {
			case colInput, colOutput, colTags:
				kind = col
			default:
				return nil, fmt.Errorf("tables: column %s of %q/%q is too large and the row has no EventType", col, e.PartitionKey, e.RowKey)
			}
		}
		v := LargeValue{Column: col, BlobName: HistoryBlobName(e.PartitionKey, e.RowKey, kind, random(), col), Text: s}
		apply(v)
		out = append(out, v)
	}
	return out, nil
}

// LargeColumnRefs lists the columns of a row read from the table whose
// values live in blobs: for each large-value column X with a String column
// "XBlobName", a LargeValue with Column X and that blob name (Text empty).
// The caller downloads each blob and calls ResolveLargeColumn before
// decoding the row.
func LargeColumnRefs(e *Entity) []LargeValue {
	var out []LargeValue
	for _, col := range largeColumns {
		if name, ok := e.GetString(col + blobNameSuffix); ok {
			out = append(out, LargeValue{Column: col, BlobName: name})
		}
	}
	return out
}

// ResolveLargeColumn puts a downloaded value back into its column and
// removes the column's "<column>BlobName" reference, as C# does on read.
func ResolveLargeColumn(e *Entity, column, text string) {
	e.Set(column, text)
	e.Delete(column + blobNameSuffix)
}

// EstimatedRowBytes is C#'s estimate of a row's size when it decides where
// to split a checkpoint into batches (flush above 3 MiB): 1,024 bytes plus
// the UTF-16 size of every non-empty large-value column, measured after
// offloading.
func EstimatedRowBytes(e *Entity) int {
	n := 1024
	for _, col := range largeColumns {
		if s, ok := e.GetString(col); ok && s != "" {
			n += 2 * UTF16Len(s)
		}
	}
	return n
}

// BlobURL returns the absolute URL C# stores in an Instances row instead of
// a large value: the container URL, "/", and each "/"-separated segment of
// the blob name percent-escaped like .NET's Uri.EscapeDataString (every
// byte but A–Z, a–z, 0–9 and "-._~").
func BlobURL(containerURL, blobName string) string {
	segs := strings.Split(blobName, "/")
	for i, s := range segs {
		segs[i] = escapeDataString(s)
	}
	return strings.TrimRight(containerURL, "/") + "/" + strings.Join(segs, "/")
}

func escapeDataString(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// IsBlobURL reports whether an Instances-row Input or Output value is a
// reference to a blob rather than the value itself. C# treats any
// well-formed absolute URI as one (orchestration payloads are JSON, and a
// JSON string is quoted, so they never look like one). This check is
// narrower: an http or https URL with a host and no spaces or control
// characters. That covers every URL the backend writes, and it keeps plain
// text such as a termination reason "note:done" from being taken for a
// reference.
//
// A URL whose path ends in "ExecutionStarted.json.gz" names a whole
// compressed queue message (the input is its TaskMessage.Event.Input);
// any other names the gzip'd value itself.
func IsBlobURL(s string) bool {
	if len(s) < len("http://x") || strings.IndexFunc(s, func(r rune) bool {
		return r <= ' ' || r == 0x7F || r == utf8.RuneError
	}) >= 0 {
		return false
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return false
	}
	scheme := strings.ToLower(u.Scheme)
	return scheme == "http" || scheme == "https"
}

// BlobNameFromURL returns the name of the blob a blob URL points to inside
// the named container (for example "myhub-largemessages"), unescaping each
// segment. It works for both account-host URLs
// (https://acct.blob.core.windows.net/c/n) and path-style emulator URLs
// (http://127.0.0.1:10000/devstoreaccount1/c/n). ok is false when the URL
// does not point into that container.
func BlobNameFromURL(rawURL, container string) (name string, ok bool) {
	if !IsBlobURL(rawURL) {
		return "", false
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", false
	}
	path := u.EscapedPath()
	marker := "/" + container + "/"
	i := strings.Index(path, marker)
	if i < 0 {
		return "", false
	}
	rest := path[i+len(marker):]
	if rest == "" {
		return "", false
	}
	segs := strings.Split(rest, "/")
	for j, s := range segs {
		v, err := url.PathUnescape(s)
		if err != nil {
			return "", false
		}
		segs[j] = v
	}
	return strings.Join(segs, "/"), true
}
