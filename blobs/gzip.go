package blobs

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
)

// ErrCorrupt is wrapped by errors about data that is not a complete, valid
// gzip stream (truncated, bad header, bad checksum, trailing garbage).
var ErrCorrupt = errors.New("not a valid gzip stream")

// Compress returns the gzip (RFC 1952) of data. The bytes differ from what
// .NET's GZipStream writes for the same input; only the decompressed
// content is comparable.
func Compress(data []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(data)/4 + 64)
	// Writing to a bytes.Buffer cannot fail, and DefaultCompression is a
	// valid level, so the errors below are impossible.
	zw, _ := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	_, _ = zw.Write(data)
	_ = zw.Close()
	return buf.Bytes()
}

// Decompress returns the content of a gzip stream. Concatenated gzip members
// are read in sequence, as the format allows. Any defect, including a stream
// cut short, gives an error that wraps ErrCorrupt.
func Decompress(gz []byte) ([]byte, error) {
	if len(gz) == 0 {
		return nil, fmt.Errorf("%w: empty input", ErrCorrupt)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, corrupt(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		return nil, corrupt(err)
	}
	if err := zr.Close(); err != nil {
		return nil, corrupt(err)
	}
	return out, nil
}

func corrupt(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: truncated (%v)", ErrCorrupt, err)
	}
	return fmt.Errorf("%w: %v", ErrCorrupt, err)
}
