package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/netjson"
)

// contentTypeJSON is the Content-Type of every JSON body.
const contentTypeJSON = "application/json; charset=utf-8"

// Time layouts of response bodies (spec §1.4).
const (
	statusTimeLayout    = "2006-01-02T15:04:05Z"
	scheduledTimeLayout = "2006-01-02T15:04:05.9999999-07:00"
)

// writeJSONBody sends a JSON body with its status code.
func writeJSONBody(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", contentTypeJSON)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeEmpty sends a status code without a body or Content-Type.
func writeEmpty(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(status)
}

// Messages of the extension's error bodies.
const (
	msgBadArguments = "One or more of the arguments submitted is incorrect"
	msgInternal     = "Something went wrong while processing your request"
	msgInvalidJSON  = "Invalid JSON content"
	msgOnlyJSON     = "Only application/json request content is supported"
)

// .NET exception type names used in long error bodies, so that clients
// that branch on ExceptionType keep working.
const (
	excArgument      = "System.ArgumentException"
	excInvalidOp     = "System.InvalidOperationException"
	excJSONReader    = "Newtonsoft.Json.JsonReaderException"
	excAlreadyExists = "DurableTask.Core.Exceptions.OrchestrationAlreadyExistsException"
	excNotSupported  = "System.NotSupportedException"
	excGeneric       = "System.Exception"
)

// writeShortError sends {"Message":…}.
func writeShortError(w http.ResponseWriter, status int, message string) {
	jw := netjson.NewWriter(nil)
	jw.BeginObject()
	jw.Key("Message")
	jw.String(message)
	jw.EndObject()
	writeJSONBody(w, status, jw.Bytes())
}

// writeLongError sends {"Message","ExceptionMessage","ExceptionType","StackTrace"}.
func writeLongError(w http.ResponseWriter, status int, message, excType string, err error) {
	jw := netjson.NewWriter(nil)
	jw.BeginObject()
	jw.Key("Message")
	jw.String(message)
	jw.Key("ExceptionMessage")
	if err != nil {
		jw.String(err.Error())
	} else {
		jw.String(message)
	}
	jw.Key("ExceptionType")
	jw.String(excType)
	jw.Key("StackTrace")
	jw.Null()
	jw.EndObject()
	writeJSONBody(w, status, jw.Bytes())
}

// writeJSONText writes stored JSON text as a JSON value, re-emitted as
// Newtonsoft would after parsing it (reemitJSON). Text that is not JSON
// becomes a JSON string, blank text the empty string, and nil null (spec
// §4.1).
func writeJSONText(w *netjson.Writer, text *string) {
	switch {
	case text == nil:
		w.Null()
	case strings.TrimSpace(*text) == "":
		w.String("")
	case json.Valid([]byte(*text)):
		n, err := parseNode([]byte(*text))
		if err != nil {
			// json.Valid accepted it, so the decoder cannot fail.
			panic(fmt.Sprintf("httpapi: re-emitting valid JSON: %v", err))
		}
		n.write(w)
	default:
		w.String(*text)
	}
}

// writePlainText writes stored plain text (a failure message or a reason)
// as a JSON string, or null.
func writePlainText(w *netjson.Writer, text *string) {
	w.NullableString(text)
}

// reemitJSON parses JSON text and writes it back as Newtonsoft's JToken
// does (JToken.Parse, then ToString without indentation), which is how
// the extension stores a raised event's data: compact; strings escaped
// with Newtonsoft's table ('<', '>', '&' and non-ASCII kept);
// integers as written ("-0" becomes "0"); other numbers as a .NET double
// in its shortest round-trip form ("1.50" is "1.5", "1E3" is "1000.0");
// a name given twice in an object keeps its first place and its last
// value.
func reemitJSON(text []byte) ([]byte, error) {
	n, err := parseNode(text)
	if err != nil {
		return nil, err
	}
	w := netjson.NewWriter(nil)
	n.write(w)
	return w.Bytes(), nil
}

// node is a parsed JSON value.
type node struct {
	kind  byte // '{', '[', '"' (string), '0' (number), 'b' (bool), 'n' (null)
	text  string
	b     bool
	names []string // objects: the names, in first-seen order
	items []*node  // objects: the values, parallel to names; arrays: the items
}

// parseNode parses one JSON value. The caller has checked that text is
// JSON (json.Valid), which also bounds the nesting depth.
func parseNode(text []byte) (*node, error) {
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	n, err := decodeNode(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("httpapi: data after the JSON value")
	}
	return n, nil
}

func decodeNode(dec *json.Decoder) (*node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		n := &node{kind: byte(t)}
		var index map[string]int // objects: where each name is
		if t == '{' {
			index = map[string]int{}
		}
		for dec.More() {
			var name string
			if t == '{' {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				name = k.(string)
			}
			v, err := decodeNode(dec)
			if err != nil {
				return nil, err
			}
			if t == '{' {
				if i, dup := index[name]; dup {
					n.items[i] = v
					continue
				}
				index[name] = len(n.names)
				n.names = append(n.names, name)
			}
			n.items = append(n.items, v)
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return nil, err
		}
		return n, nil
	case string:
		return &node{kind: '"', text: t}, nil
	case json.Number:
		return &node{kind: '0', text: string(t)}, nil
	case bool:
		return &node{kind: 'b', b: t}, nil
	default:
		return &node{kind: 'n'}, nil
	}
}

func (n *node) write(w *netjson.Writer) {
	switch n.kind {
	case '{':
		w.BeginObject()
		for i, name := range n.names {
			w.Key(name)
			n.items[i].write(w)
		}
		w.EndObject()
	case '[':
		w.BeginArray()
		for _, it := range n.items {
			it.write(w)
		}
		w.EndArray()
	case '"':
		w.String(n.text)
	case '0':
		w.Raw([]byte(formatNumber(n.text)))
	case 'b':
		w.Bool(n.b)
	default:
		w.Null()
	}
}

// formatNumber renders a JSON number as Newtonsoft writes it back after
// parsing: integers unchanged, other numbers as a .NET double.
func formatNumber(s string) string {
	if !strings.ContainsAny(s, ".eE") {
		if s == "-0" {
			return "0"
		}
		return s
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return s
	}
	return formatDouble(f)
}

// formatDouble formats f as .NET's shortest round-trip double text, with
// ".0" added to integral values as Newtonsoft does: scientific notation
// ("1E+15", "1.5E-05") from 1e15 up and below 1e-4.
func formatDouble(f float64) string {
	if f == 0 {
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64)
	mant, expText, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expText)
	if exp >= 15 || exp < -4 {
		sign := "+"
		if exp < 0 {
			sign, exp = "-", -exp
		}
		return fmt.Sprintf("%sE%s%02d", mant, sign, exp)
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// plainOutput reports whether a status stores plain text, not JSON, in
// Output: the failure message, the termination reason, or the reason of
// the last suspend or resume.
func plainOutput(s client.Status) bool {
	switch s {
	case client.Failed, client.Terminated, client.Suspended, client.Running:
		return true
	}
	return false
}

// StatusOptions select what MarshalStatus writes. The zero value writes
// the status with its input and without history.
type StatusOptions struct {
	// HideInput writes "input": null and drops Input from history events
	// (showInput=false).
	HideInput bool
	// History, when not nil, is written as "historyEvents", rewritten as
	// the extension rewrites the events of the current execution.
	History []history.Event
	// ShowHistoryOutput keeps the results of completion events in the
	// history, parsed as JSON (showHistoryOutput=true).
	ShowHistoryOutput bool
}

// MarshalStatus returns the extension's status object for an instance
// (spec §4.1): members name, instanceId, parentInstanceId (only for a
// sub-orchestration, as extension 3.x writes it), runtimeStatus, input,
// customStatus, output, createdTime, lastUpdatedTime and, when o.History
// is set, historyEvents. Times are UTC whole seconds.
func MarshalStatus(st *client.State, o *StatusOptions) []byte {
	if o == nil {
		o = &StatusOptions{}
	}
	w := netjson.NewWriter(nil)
	appendStatus(w, st, o)
	return w.Bytes()
}

func appendStatus(w *netjson.Writer, st *client.State, o *StatusOptions) {
	w.BeginObject()
	w.Key("name")
	w.String(st.Name)
	w.Key("instanceId")
	w.String(st.InstanceID)
	if st.ParentInstanceID != "" {
		w.Key("parentInstanceId")
		w.String(st.ParentInstanceID)
	}
	w.Key("runtimeStatus")
	w.String(st.Status.String())
	w.Key("input")
	if o.HideInput {
		w.Null()
	} else {
		writeJSONText(w, st.Input)
	}
	w.Key("customStatus")
	writeJSONText(w, st.CustomStatus)
	w.Key("output")
	if plainOutput(st.Status) {
		writePlainText(w, st.Output)
	} else {
		writeJSONText(w, st.Output)
	}
	w.Key("createdTime")
	w.String(formatStatusTime(st.CreatedAt))
	w.Key("lastUpdatedTime")
	w.String(formatStatusTime(st.LastUpdatedAt))
	if o.History != nil {
		w.Key("historyEvents")
		w.Raw(historyJSON(o.History, !o.HideInput, o.ShowHistoryOutput))
	}
	w.EndObject()
}

// formatStatusTime renders a status time: UTC, fraction truncated, "Z".
func formatStatusTime(t time.Time) string {
	return t.UTC().Truncate(time.Second).Format(statusTimeLayout)
}
