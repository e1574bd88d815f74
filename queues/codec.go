package queues

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/azdurable/azdurable/blobs"
)

// Errors wrapped by Codec.Decode, one per thing that can be wrong with a
// received message, so the caller can log the right reason and abandon.
var (
	// ErrBadBody: the queue text is neither an envelope's JSON nor base64
	// of one, or the envelope does not decode.
	ErrBadBody = errors.New("queue message body is not a valid envelope")
	// ErrLargeMessageMissing: the wrapper names a blob that does not exist.
	// errors.Is(err, blobs.ErrNotFound) holds too.
	ErrLargeMessageMissing = errors.New("large-message blob is missing")
	// ErrLargeMessageCorrupt: the blob is not valid gzip, or its content is
	// not a complete envelope. errors.Is(err, blobs.ErrCorrupt) holds when
	// the gzip stream itself is bad.
	ErrLargeMessageCorrupt = errors.New("large-message blob is corrupt")
)

// Codec turns envelopes into queue texts and back, offloading envelopes
// larger than LargeMessageThreshold to the hub's large-message container
// exactly as C# does. It is safe for concurrent use.
type Codec struct {
	enc   Encoding
	blobs *blobs.Store
}

// NewCodec returns a Codec that writes texts in enc and keeps large
// envelopes in store, the hub's <hub>-largemessages container. store may be
// nil for a Codec that only handles small messages; large ones then fail
// with a clear error.
func NewCodec(enc Encoding, store *blobs.Store) *Codec { return &Codec{enc: enc, blobs: store} }

// Encoding returns the encoding the Codec writes.
func (c *Codec) Encoding() Encoding { return c.enc }

// Encode returns the queue text for m. See EncodeOffload.
func (c *Codec) Encode(ctx context.Context, m *MessageData) (string, error) {
	text, _, err := c.EncodeOffload(ctx, m)
	return text, err
}

// EncodeOffload returns the queue text for m and, when m was offloaded, the
// name of the blob that holds it ("" otherwise); the client needs that name
// to store the blob's URL as an instance's input, as C# does. An envelope
// whose JSON is longer than LargeMessageThreshold UTF-8 bytes is uploaded,
// gzip-compressed, to LargeMessageBlobName(m), and the text is the wrapper
// that names the blob. Send the text with the delay the real message would
// have had.
func (c *Codec) EncodeOffload(ctx context.Context, m *MessageData) (text, blobName string, err error) {
	if m == nil {
		return "", "", errors.New("queues: encode: nil message")
	}
	data := Marshal(m)
	if len(data) <= LargeMessageThreshold {
		return EncodeJSON(data, c.enc), "", nil
	}
	if m.IsLargeMessageWrapper() {
		return "", "", fmt.Errorf("queues: encode: a large-message wrapper of %d bytes cannot be offloaded again", len(data))
	}
	if m.TaskMessage == nil {
		return "", "", errors.New("queues: encode: an envelope without a TaskMessage cannot be offloaded (the blob name needs its instance and event)")
	}
	if c.blobs == nil {
		return "", "", fmt.Errorf("queues: encode: envelope of %d bytes needs offloading, but the codec has no blob store", len(data))
	}
	name := LargeMessageBlobName(m)
	if err := c.blobs.UploadGzip(ctx, name, data); err != nil {
		return "", "", fmt.Errorf("queues: offload envelope of %d bytes: %w", len(data), err)
	}
	return EncodeJSON(Marshal(NewWrapper(name)), c.enc), name, nil
}

// Send encodes m (offloading it if large) and enqueues it on q with delay;
// the wrapper of an offloaded message carries the same delay.
func (c *Codec) Send(ctx context.Context, q *Queue, m *MessageData, delay time.Duration) (Sent, error) {
	text, err := c.Encode(ctx, m)
	if err != nil {
		return Sent{}, err
	}
	return q.Send(ctx, text, delay)
}

// Decode returns the envelope a queue text carries, in either encoding. For
// a large-message wrapper it downloads the blob and returns the real
// envelope (whose CompressedBlobName is empty); the queue message's id, pop
// receipt and dequeue count still belong to the wrapper. Errors wrap
// ErrBadBody, ErrLargeMessageMissing or ErrLargeMessageCorrupt and name the
// blob where one is involved.
func (c *Codec) Decode(ctx context.Context, text string) (*MessageData, error) {
	m, _, err := DecodeBody(text)
	if err != nil {
		return nil, fmt.Errorf("queues: %w: %w", ErrBadBody, err)
	}
	if !m.IsLargeMessageWrapper() {
		return m, nil
	}
	name := m.CompressedBlobName
	if c.blobs == nil {
		return nil, fmt.Errorf("queues: message is offloaded to blob %q, but the codec has no blob store", name)
	}
	data, err := c.blobs.DownloadGzip(ctx, name)
	switch {
	case errors.Is(err, blobs.ErrNotFound):
		return nil, fmt.Errorf("queues: %w: %w", ErrLargeMessageMissing, err)
	case errors.Is(err, blobs.ErrCorrupt):
		return nil, fmt.Errorf("queues: %w: %w", ErrLargeMessageCorrupt, err)
	case err != nil:
		return nil, fmt.Errorf("queues: fetch large message: %w", err)
	}
	full, err := Unmarshal(data)
	if err != nil {
		return nil, fmt.Errorf("queues: %w: blob %q does not hold an envelope: %w", ErrLargeMessageCorrupt, name, err)
	}
	if full.IsLargeMessageWrapper() || full.TaskMessage == nil {
		return nil, fmt.Errorf("queues: %w: blob %q holds another wrapper instead of a message", ErrLargeMessageCorrupt, name)
	}
	return full, nil
}
