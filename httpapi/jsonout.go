package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
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
// Newtonsoft would after parsing it: compact, strings escaped with
// Newtonsoft's table, floating-point numbers in .NET's round-trip form. Text
// that is not JSON becomes a JSON string, blank text the empty string, and
// nil null (spec §4.1).
func writeJSONText(w *netjson.Writer, text *string) {
	switch {
	case text == nil:
		w.Null()
	case strings.TrimSpace(*text) == "":
		w.String("")
	case json.Valid([]byte(*text)):
		dec := json.NewDecoder(strings.NewReader(*text))
		dec.UseNumber()
		if err := copyValue(w, dec); err != nil {
			// json.Valid accepted it, so the decoder cannot fail.
			panic(fmt.Sprintf("httpapi: re-emitting valid JSON: %v", err))
		}
	default:
		w.String(*text)
	}
}

// writePlainText writes stored plain text (a failure message or a reason)
// as a JSON string, or null.
func writePlainText(w *netjson.Writer, text *string) {
	w.NullableString(text)
}

func copyValue(w *netjson.Writer, dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			w.BeginObject()
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				w.Key(k.(string))
				if err := copyValue(w, dec); err != nil {
					return err
				}
			}
			w.EndObject()
		} else {
			w.BeginArray()
			for dec.More() {
				if err := copyValue(w, dec); err != nil {
					return err
				}
			}
			w.EndArray()
		}
		_, err = dec.Token() // the closing delimiter
		return err
	case string:
		w.String(t)
	case json.Number:
		w.Raw([]byte(formatNumber(string(t))))
	case bool:
		w.Bool(t)
	case nil:
		w.Null()
	}
	return nil
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

// compactJSON reports whether body is JSON and returns it compacted.
func compactJSON(body []byte) (json.RawMessage, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, body); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
