package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/azdurable/azdurable/provider/azurestorage"
	"github.com/azdurable/azdurable/queues"
	"github.com/spf13/cobra"
)

func newInspect() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "inspect",
		Short: "Decode queue messages and compute partitions, without storage",
	}
	cmd.AddCommand(newInspectMessage(), newInspectPartition())
	return cmd
}

func newInspectMessage() *cobra.Command {
	return &cobra.Command{
		Use:   "message [FILE|-]",
		Short: "Decode a raw queue message body (JSON or base64) and print it as JSON",
		Long: `Decodes one queue message body as DurableTask.AzureStorage writes it (UTF-8
JSON or base64 of it) from FILE, or from standard input when FILE is "-" or
absent, and prints the decoded message as indented JSON: the event type by
name and number, the instance and execution id, the queue encoding, and the
whole envelope.`,
		Args: maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var data []byte
			var err error
			if len(args) == 0 || args[0] == "-" {
				data, err = io.ReadAll(cmd.InOrStdin())
			} else {
				data, err = os.ReadFile(args[0])
			}
			if err != nil {
				return err
			}
			out, err := inspectMessage(string(data))
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
}

// inspectMessage decodes a body and renders the report printed by
// "inspect message".
func inspectMessage(body string) ([]byte, error) {
	body = strings.TrimSpace(body)
	m, enc, err := queues.DecodeBody(body)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.WriteString("{\n")
	field := func(name string, v any) {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(v)
		fmt.Fprintf(&buf, "  %q: %s,\n", name, bytes.TrimSpace(b.Bytes()))
	}
	field("encoding", enc.String())
	if m.IsLargeMessageWrapper() {
		field("largeMessage", true)
		field("blobName", m.CompressedBlobName)
		field("note", "the envelope is in this blob of the <hub>-largemessages container")
	} else {
		ev := m.TaskMessage.Event
		field("eventType", ev.Type().String())
		field("eventTypeCode", int(ev.Type()))
		field("instanceId", m.TaskMessage.OrchestrationInstance.InstanceID)
		field("executionId", nullIfEmpty(m.TaskMessage.OrchestrationInstance.ExecutionID))
		field("eventId", ev.Base().EventID)
		field("timestamp", ev.Base().Timestamp)
		if m.Episode != nil {
			field("episode", *m.Episode)
		}
		if m.Sender != nil && m.Sender.InstanceID != "" {
			field("sender", m.Sender.InstanceID)
		}
	}
	var msg bytes.Buffer
	if err := json.Indent(&msg, queues.Marshal(m), "  ", "  "); err != nil {
		return nil, err
	}
	buf.WriteString(`  "message": `)
	buf.Write(msg.Bytes())
	buf.WriteString("\n}\n")
	return buf.Bytes(), nil
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func newInspectPartition() *cobra.Command {
	var partitions int
	var hub string
	cmd := &cobra.Command{
		Use:   "partition --partitions N [--task-hub NAME] INSTANCE-ID",
		Short: "Print the control-queue index (and name) of an instance id",
		Long: `Prints the two-digit index of the control queue that an instance id maps to
(FNV-1a of its UTF-8 bytes modulo the partition count, as the C# backend
computes it) and, with --task-hub, the control queue's name.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("partitions") {
				return usagef("--partitions is required: the hub's partition count decides the queue")
			}
			if err := azurestorage.ValidatePartitionCount(partitions); err != nil {
				return usageError{err}
			}
			i := azurestorage.PartitionIndex(args[0], partitions)
			if hub == "" {
				fmt.Fprintf(cmd.OutOrStdout(), "%02d\n", i)
				return nil
			}
			r, err := azurestorage.HubResources(hub, partitions)
			if err != nil {
				return usageError{err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%02d %s\n", i, r.ControlQueues[i])
			return nil
		},
	}
	cmd.Flags().IntVar(&partitions, "partitions", 0, "the task hub's partition count (1-16)")
	cmd.Flags().StringVar(&hub, "task-hub", "", "task hub name; also print the control queue name")
	return cmd
}
