package queues

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/internal/netjson"
	"github.com/google/uuid"
)

// TypeNameMessageData is the "$type" of the envelope.
const TypeNameMessageData = "DurableTask.AzureStorage.MessageData"

// LargeMessageThreshold is the largest envelope, in UTF-8 bytes, that is sent
// inline. Larger envelopes are offloaded to a blob (C#: 45 KiB, chosen so
// that the base64 form also fits Azure's 64 KiB message limit).
const LargeMessageThreshold = 45 * 1024

// Encoding is how the envelope's JSON is put on the queue.
type Encoding int

const (
	// UTF8 sends the JSON text as is; the C# default since DT.AS 2.4.0.
	UTF8 Encoding = iota
	// Base64 sends base64 of the UTF-8 JSON, for hubs shared with C#
	// workers older than 1.17.4.
	Base64
)

// String returns "utf8" or "base64".
func (e Encoding) String() string {
	if e == Base64 {
		return "base64"
	}
	return "utf8"
}

// ParseEncoding accepts "utf8"/"utf-8" and "base64" (any case).
func ParseEncoding(s string) (Encoding, error) {
	switch strings.ToLower(s) {
	case "utf8", "utf-8", "":
		return UTF8, nil
	case "base64":
		return Base64, nil
	}
	return 0, fmt.Errorf("unknown queue message encoding %q (want utf8 or base64)", s)
}

// Sender identifies the instance that sent a message. Clients send the empty
// Sender {"InstanceId":"","ExecutionId":""}.
type Sender struct {
	InstanceID  string
	ExecutionID string
}

// MessageData is DurableTask.AzureStorage's queue envelope.
type MessageData struct {
	// ActivityID is a fresh GUID per message (lower case, with dashes); all
	// zeros in large-message wrappers.
	ActivityID string
	// TaskMessage is the payload; nil only in large-message wrappers.
	TaskMessage *history.TaskMessage
	// CompressedBlobName is set only in large-message wrappers.
	CompressedBlobName string
	// SequenceNumber is a per-process send counter (0 in wrappers).
	SequenceNumber int64
	// Episode is the sending orchestration's episode; nil for clients.
	Episode *int32
	// Sender is nil (written as null) only in wrappers.
	Sender *Sender
	// SerializableTraceContext is legacy correlation data, normally nil.
	SerializableTraceContext *string
}

// IsLargeMessageWrapper reports whether the real envelope is in a blob.
func (m *MessageData) IsLargeMessageWrapper() bool { return m.CompressedBlobName != "" }

// NewWrapper returns the wrapper envelope that points at an offloaded
// message blob, exactly as C# writes it.
func NewWrapper(blobName string) *MessageData {
	return &MessageData{ActivityID: uuid.Nil.String(), CompressedBlobName: blobName}
}

// LargeMessageBlobName returns the blob name C# uses for an offloaded message:
// <instance id>/message-<activity id without dashes>-<event type>.json.gz.
// The instance id is not escaped.
func LargeMessageBlobName(m *MessageData) string {
	ev := "Unknown"
	id := ""
	if m.TaskMessage != nil {
		id = m.TaskMessage.OrchestrationInstance.InstanceID
		if m.TaskMessage.Event != nil {
			ev = m.TaskMessage.Event.Type().String()
		}
	}
	return id + "/message-" + strings.ReplaceAll(strings.ToLower(m.ActivityID), "-", "") + "-" + ev + ".json.gz"
}

// Marshal returns the envelope's JSON.
func Marshal(m *MessageData) []byte {
	w := netjson.NewWriter(nil)
	w.BeginObject()
	w.Key("$type")
	w.String(TypeNameMessageData)
	w.Key("ActivityId")
	w.String(m.ActivityID)
	w.Key("TaskMessage")
	if m.TaskMessage == nil {
		w.Null()
	} else {
		w.Raw(history.AppendTaskMessage(nil, m.TaskMessage, history.TypeNames))
	}
	w.Key("CompressedBlobName")
	if m.CompressedBlobName == "" {
		w.Null()
	} else {
		w.String(m.CompressedBlobName)
	}
	w.Key("SequenceNumber")
	w.Int(m.SequenceNumber)
	if m.Episode != nil {
		w.Key("Episode")
		w.Int(int64(*m.Episode))
	}
	w.Key("Sender")
	if m.Sender == nil {
		w.Null()
	} else {
		w.BeginObject()
		w.Key("InstanceId")
		w.String(m.Sender.InstanceID)
		w.Key("ExecutionId")
		w.String(m.Sender.ExecutionID)
		w.EndObject()
	}
	w.Key("SerializableTraceContext")
	w.NullableString(m.SerializableTraceContext)
	w.EndObject()
	return w.Bytes()
}

// EncodeBody returns the queue message text for the envelope.
func EncodeBody(m *MessageData, enc Encoding) string {
	return EncodeJSON(Marshal(m), enc)
}

// EncodeJSON puts already-marshalled envelope JSON into the given encoding.
func EncodeJSON(data []byte, enc Encoding) string {
	if enc == Base64 {
		return base64.StdEncoding.EncodeToString(data)
	}
	return string(data)
}

// ErrEmptyBody is returned for an empty queue message.
var ErrEmptyBody = errors.New("empty queue message body")

// BodyJSON returns the envelope JSON carried by a queue message text: the
// text itself when it starts with '{', else its base64 decoding.
func BodyJSON(body string) ([]byte, Encoding, error) {
	trimmed := strings.TrimLeft(body, "\ufeff \t\r\n")
	if trimmed == "" {
		return nil, UTF8, ErrEmptyBody
	}
	if trimmed[0] == '{' {
		return []byte(trimmed), UTF8, nil
	}
	data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(trimmed))
	if err != nil {
		// Some writers drop the padding.
		if data2, err2 := base64.RawStdEncoding.DecodeString(strings.TrimRight(strings.TrimSpace(trimmed), "=")); err2 == nil {
			return data2, Base64, nil
		}
		return nil, Base64, fmt.Errorf("body is neither JSON nor base64: %w", err)
	}
	return data, Base64, nil
}

// DecodeBody decodes a queue message text (JSON or base64).
func DecodeBody(body string) (*MessageData, Encoding, error) {
	data, enc, err := BodyJSON(body)
	if err != nil {
		return nil, enc, err
	}
	m, err := Unmarshal(data)
	if err != nil && enc == Base64 {
		return nil, enc, fmt.Errorf("base64 body: %w", err)
	}
	return m, enc, err
}

// Unmarshal decodes envelope JSON. A wrapper decodes to a MessageData whose
// TaskMessage is nil and whose CompressedBlobName is set.
func Unmarshal(data []byte) (*MessageData, error) {
	o, err := netjson.ParseObject(data)
	if err != nil {
		return nil, fmt.Errorf("queue message: %w", err)
	}
	m := &MessageData{}
	if m.ActivityID, err = o.String("ActivityId"); err != nil {
		return nil, fmt.Errorf("queue message: %w", err)
	}
	if m.CompressedBlobName, err = o.String("CompressedBlobName"); err != nil {
		return nil, fmt.Errorf("queue message: %w", err)
	}
	if m.SequenceNumber, err = o.Int("SequenceNumber", 64); err != nil {
		return nil, fmt.Errorf("queue message: %w", err)
	}
	ep, err := o.NullableInt("Episode", 32)
	if err != nil {
		return nil, fmt.Errorf("queue message: %w", err)
	}
	if ep != nil {
		v := int32(*ep)
		m.Episode = &v
	}
	sender, err := o.Object("Sender")
	if err != nil {
		return nil, fmt.Errorf("queue message: %w", err)
	}
	if sender != nil {
		s := &Sender{}
		if s.InstanceID, err = sender.String("InstanceId"); err != nil {
			return nil, fmt.Errorf("queue message: Sender: %w", err)
		}
		if s.ExecutionID, err = sender.String("ExecutionId"); err != nil {
			return nil, fmt.Errorf("queue message: Sender: %w", err)
		}
		m.Sender = s
	}
	if m.SerializableTraceContext, err = o.NullableString("SerializableTraceContext"); err != nil {
		return nil, fmt.Errorf("queue message: %w", err)
	}
	if tm, ok := o.Present("TaskMessage"); ok {
		if m.TaskMessage, err = history.UnmarshalTaskMessage(tm); err != nil {
			return nil, fmt.Errorf("queue message: TaskMessage: %w", err)
		}
	} else if m.CompressedBlobName == "" {
		return nil, errors.New("queue message: neither TaskMessage nor CompressedBlobName is set")
	}
	return m, nil
}
