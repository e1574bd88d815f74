package blobs

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ErrNotInContainer is wrapped by NameFromURL's errors for URLs that are
// not blob URLs of the Store's container.
var ErrNotInContainer = errors.New("URL does not point into the container")

// URL returns the absolute URL of the blob name, as C# writes it into the
// Instances table's Input and Output columns: the container URL, "/", and
// each "/"-separated segment of name escaped with RFC 3986 data escaping
// (every byte outside A–Z a–z 0–9 - . _ ~ becomes %XX, upper-case hex).
// The URL never includes a SAS, even when the Store was built with one.
func (s *Store) URL(name string) string {
	segs := strings.Split(name, "/")
	for i, seg := range segs {
		segs[i] = escapeData(seg)
	}
	return s.containerURL() + "/" + strings.Join(segs, "/")
}

// NameFromURL returns the blob name a URL made by URL (or by C#) refers to.
// The URL must be absolute and point into this Store's container: same
// scheme and host (compared without regard to case) and a path below the
// container's. Any query (a SAS) is ignored. Other URLs give an error that
// wraps ErrNotInContainer.
func (s *Store) NameFromURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return "", fmt.Errorf("blobs: %w %q: not an absolute URL", ErrNotInContainer, s.name)
	}
	base, err := url.Parse(s.containerURL())
	if err != nil {
		return "", fmt.Errorf("blobs: container URL of %q does not parse: %w", s.name, err)
	}
	if !strings.EqualFold(u.Scheme, base.Scheme) || !strings.EqualFold(u.Host, base.Host) {
		return "", fmt.Errorf("blobs: %w %q: host %s is not %s", ErrNotInContainer, s.name, u.Host, base.Host)
	}
	rest, ok := strings.CutPrefix(u.EscapedPath(), base.EscapedPath()+"/")
	if !ok || rest == "" {
		return "", fmt.Errorf("blobs: %w %q: path %s is not below %s", ErrNotInContainer, s.name, u.EscapedPath(), base.EscapedPath())
	}
	// Unescape segment by segment, so that an escaped "/" inside a segment
	// is not confused with a separator before it is decoded (both name the
	// same blob in the end).
	segs := strings.Split(rest, "/")
	for i, seg := range segs {
		if segs[i], err = url.PathUnescape(seg); err != nil {
			return "", fmt.Errorf("blobs: %w %q: bad escape in path segment %d", ErrNotInContainer, s.name, i+1)
		}
	}
	return strings.Join(segs, "/"), nil
}

// containerURL is the container's URL without query or trailing slash.
func (s *Store) containerURL() string {
	u := s.client.URL()
	if i := strings.IndexByte(u, '?'); i >= 0 {
		u = u[:i]
	}
	return strings.TrimRight(u, "/")
}

// escapeData is .NET's Uri.EscapeDataString: RFC 3986 unreserved
// characters stay, every other UTF-8 byte is percent-encoded.
func escapeData(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func unreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
