package blobs

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestCompressRoundTrip checks that Decompress(Compress(x)) == x for empty,
// small, incompressible and large inputs, and that the output is gzip.
func TestCompressRoundTrip(t *testing.T) {
	random := make([]byte, 200_000)
	_, _ = rand.Read(random)
	cases := map[string][]byte{
		"empty":    {},
		"small":    []byte(`{"a":1}`),
		"random":   random,
		"repeated": bytes.Repeat([]byte("x"), 1<<20),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			gz := Compress(in)
			if len(gz) < 18 || gz[0] != 0x1f || gz[1] != 0x8b {
				t.Fatalf("not a gzip stream: % x", gz[:min(len(gz), 10)])
			}
			out, err := Decompress(gz)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, in) {
				t.Fatalf("round trip changed the data (%d bytes in, %d out)", len(in), len(out))
			}
		})
	}
}

// TestDecompressConcatenatedMembers: RFC 1952 allows several members in a
// row; a reader must return all of them.
func TestDecompressConcatenatedMembers(t *testing.T) {
	gz := append(Compress([]byte("hello ")), Compress([]byte("world"))...)
	out, err := Decompress(gz)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "hello world" {
		t.Fatalf("got %q", out)
	}
}

// TestDecompressCSharpBlobs decompresses the blobs the C# backend wrote in
// the recorded run (.NET GZipStream, with a sync flush inside the deflate
// stream) and compares the content hash recorded with them.
func TestDecompressCSharpBlobs(t *testing.T) {
	files, err := filepath.Glob("../testdata/csharp/blobs/*largemessages/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("expected the recorded large-message blobs, found %d files", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var v struct {
				Base64        string `json:"base64"`
				ContentSha256 string `json:"content_sha256"`
				ContentSize   int    `json:"content_size"`
			}
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &v); err != nil {
				t.Fatal(err)
			}
			gz, err := base64.StdEncoding.DecodeString(v.Base64)
			if err != nil {
				t.Fatal(err)
			}
			out, err := Decompress(gz)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(out)
			if got := hex.EncodeToString(sum[:]); got != v.ContentSha256 || len(out) != v.ContentSize {
				t.Fatalf("content sha256 %s (%d bytes), recorded %s (%d bytes)", got, len(out), v.ContentSha256, v.ContentSize)
			}
		})
	}
}

// TestDecompressCorrupt feeds every truncation of a valid stream, a bad
// checksum, a bad header and trailing garbage: each must give an error
// wrapping ErrCorrupt, never a panic or silently short data.
func TestDecompressCorrupt(t *testing.T) {
	good := Compress(bytes.Repeat([]byte("payload "), 500))
	for n := 0; n < len(good); n++ {
		if _, err := Decompress(good[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d of %d bytes: err = %v, want ErrCorrupt", n, len(good), err)
		}
	}
	badCRC := bytes.Clone(good)
	badCRC[len(badCRC)-5] ^= 0xff
	badHeader := bytes.Clone(good)
	badHeader[0] = 'x'
	cases := map[string][]byte{
		"crc":      badCRC,
		"header":   badHeader,
		"garbage":  append(bytes.Clone(good), "trailing"...),
		"not gzip": []byte(`{"plain":"json"}`),
	}
	for name, in := range cases {
		if _, err := Decompress(in); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", name, err)
		}
	}
}

// FuzzDecompress checks that no input makes Decompress panic and that every
// accepted input re-compresses to a stream with the same content.
func FuzzDecompress(f *testing.F) {
	f.Add(Compress([]byte("seed")))
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3})
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := Decompress(in)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		again, err := Decompress(Compress(out))
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("re-compression round trip failed: %v", err)
		}
	})
}
