package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/httpapi"
	"github.com/azdurable/azdurable/provider"
	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/spf13/cobra"
)

// What `instances show` adds to an instance's status: the messages of the
// instance that were quarantined in <hub>-poison, and the work a worker
// gave back without running it (a name it does not host) that still holds
// the instance back. The JSON output is the HTTP API's status object with
// "quarantinedMessages" and "stalledWork" added when there are any.

// showInstance prints one instance with its diagnostics.
func showInstance(cmd *cobra.Command, sf *storageFlags, id string, asJSON bool) error {
	be, release, err := sf.backend(cmd.Context(), cmd, func(o *azurestorage.Options) { o.DoNotCreate = true })
	defer release()
	if err != nil {
		return err
	}
	c := client.New(be, client.Options{})
	st, stErr := c.GetState(cmd.Context(), id, client.WithInputsAndOutputs(true))
	if errors.Is(stErr, client.ErrNotFound) {
		stErr = fmt.Errorf("instance %q not found", id)
	} else if stErr != nil {
		return stErr
	}
	diag, err := readDiagnostics(cmd.Context(), be, id)
	if err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: reading the quarantined messages of %q: %v\n", id, err)
	}
	out := cmd.OutOrStdout()
	if stErr != nil {
		// No status row: show what was quarantined under the id, if
		// anything, and still report the instance as not found.
		if diag != nil && len(diag.Quarantined) > 0 {
			if asJSON {
				_ = printIndented(out, withDiagnostics([]byte(`{"instanceId":`+jsonText(id)+`}`), diag))
			} else {
				_ = printDiagnostics(out, diag)
			}
		}
		return stErr
	}
	if asJSON {
		return printIndented(out, withDiagnostics(httpapi.MarshalStatus(st, nil), diag))
	}
	if err := printState(out, st); err != nil {
		return err
	}
	return printDiagnostics(out, diag)
}

func readDiagnostics(ctx context.Context, q provider.Quarantiner, id string) (*provider.Diagnostics, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return q.Diagnostics(ctx, id)
}

func jsonText(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// withDiagnostics adds the diagnostics to a JSON object.
func withDiagnostics(obj []byte, d *provider.Diagnostics) []byte {
	if d == nil || (len(d.Quarantined) == 0 && len(d.Stalled) == 0) {
		return obj
	}
	obj = bytes.TrimRight(obj, " \n")
	if len(obj) < 2 || obj[len(obj)-1] != '}' {
		return obj
	}
	var buf bytes.Buffer
	buf.Write(obj[:len(obj)-1])
	sep := ","
	if bytes.Equal(bytes.TrimSpace(obj[:len(obj)-1]), []byte("{")) {
		sep = ""
	}
	if len(d.Quarantined) > 0 {
		b, _ := json.Marshal(d.Quarantined)
		buf.WriteString(sep + `"quarantinedMessages":`)
		buf.Write(b)
		sep = ","
	}
	if len(d.Stalled) > 0 {
		b, _ := json.Marshal(d.Stalled)
		buf.WriteString(sep + `"stalledWork":`)
		buf.Write(b)
	}
	buf.WriteByte('}')
	return buf.Bytes()
}

// printDiagnostics prints the human view: a block per kind, an item per
// record.
func printDiagnostics(w io.Writer, d *provider.Diagnostics) error {
	if d == nil {
		return nil
	}
	var b strings.Builder
	if len(d.Stalled) > 0 {
		b.WriteString("Waiting for:\n")
		for _, s := range d.Stalled {
			fmt.Fprintf(&b, "  - %s\n", s.Reason)
			fmt.Fprintf(&b, "    given back by worker %s at %s; visible again %ds later\n", s.Worker, formatFull(s.At), s.RetryInSeconds)
		}
	}
	if len(d.Quarantined) > 0 {
		b.WriteString("Quarantined messages (taken out of their queues; the instance's status was left as it was):\n")
		for _, q := range d.Quarantined {
			fmt.Fprintf(&b, "  - %s: %s\n", describeQuarantined(q), q.Reason)
			fmt.Fprintf(&b, "    queue %s, message %s, received %d times, quarantined at %s\n", q.Queue, q.MessageID, q.DequeueCount, formatFull(q.At))
			fmt.Fprintf(&b, "    kept in %s\n", q.Location)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// describeQuarantined names what a quarantined message was.
func describeQuarantined(q provider.Quarantined) string {
	what := q.EventType
	switch {
	case what == "":
		what = "a message that names no event"
	case strings.Trim(what, "0123456789") == "":
		what = "event type " + what
	}
	if q.Name != "" {
		what += " " + jsonText(q.Name)
	}
	if q.TaskID != nil {
		what += fmt.Sprintf(" (task %d)", *q.TaskID)
	}
	return what
}
