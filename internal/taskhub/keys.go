package taskhub

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// escapeChar introduces every escape sequence of a PartitionKey.
const escapeChar = '^'

// controlOffset shifts characters the service does not allow in keys into
// a printable range (U+00C0 is 'À').
const controlOffset = 0xC0

func needsShift(r rune) bool { return r <= 0x1F || (r >= 0x7F && r <= 0x9F) }

// EscapePartitionKey turns an instance id into the PartitionKey of its
// History and Instances rows, as DurableTask.AzureStorage does: '^' becomes
// "^^", '/', '\', '#' and '?' become "^0" to "^3", and the control
// characters U+0000–U+001F and U+007F–U+009F become '^' followed by the
// character shifted up by U+00C0. Everything else is kept. The C# rule works
// on UTF-16 code units; since every affected character is a single code unit
// the result is the same when working on runes. Bytes that are not valid
// UTF-8 are copied unchanged.
func EscapePartitionKey(id string) string {
	i := strings.IndexFunc(id, func(r rune) bool {
		return r == escapeChar || r == '/' || r == '\\' || r == '#' || r == '?' || needsShift(r)
	})
	if i < 0 {
		return id
	}
	var b strings.Builder
	b.Grow(len(id) + 8)
	b.WriteString(id[:i])
	for i < len(id) {
		r, size := utf8.DecodeRuneInString(id[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteByte(id[i])
		case r == escapeChar:
			b.WriteString("^^")
		case r == '/':
			b.WriteString("^0")
		case r == '\\':
			b.WriteString("^1")
		case r == '#':
			b.WriteString("^2")
		case r == '?':
			b.WriteString("^3")
		case needsShift(r):
			b.WriteRune(escapeChar)
			b.WriteRune(r + controlOffset)
		default:
			b.WriteString(id[i : i+size])
		}
		i += size
	}
	return b.String()
}

// UnescapePartitionKey reverses EscapePartitionKey. A '^' is followed by one
// character c: "^^" gives '^', "^0" to "^3" give '/', '\', '#', '?', a c of
// U+00C0 or above gives c − U+00C0, and any other c gives c itself.
//
// Inputs that EscapePartitionKey never produces are handled as C# handles
// them where Go can represent the result: a '^' before a character outside
// the Basic Multilingual Plane shifts its high surrogate (as C# does), and a
// result that would be a lone surrogate becomes U+FFFD. A '^' at the very end
// is kept (C# throws there). UnescapePartitionKey(EscapePartitionKey(s)) == s
// for every string s, including invalid UTF-8.
func UnescapePartitionKey(key string) string {
	i := strings.IndexByte(key, escapeChar)
	if i < 0 {
		return key
	}
	var b strings.Builder
	b.Grow(len(key))
	b.WriteString(key[:i])
	for i < len(key) {
		c := key[i]
		if c != escapeChar {
			b.WriteByte(c) // '^' is ASCII, so copying other bytes one by one is safe
			i++
			continue
		}
		i++
		if i == len(key) {
			b.WriteByte(escapeChar)
			break
		}
		r, size := utf8.DecodeRuneInString(key[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteByte(key[i])
		case r == escapeChar:
			b.WriteByte(escapeChar)
		case r >= '0' && r <= '3':
			b.WriteByte("/\\#?"[r-'0'])
		case r < controlOffset:
			b.WriteString(key[i : i+size])
		case r <= 0xFFFF:
			b.WriteRune(r - controlOffset) // a surrogate result becomes U+FFFD
		default:
			hi, lo := utf16.EncodeRune(r)
			if pair := utf16.DecodeRune(hi-controlOffset, lo); pair != utf8.RuneError {
				b.WriteRune(pair)
			} else {
				b.WriteRune(hi - controlOffset)
				b.WriteRune(utf8.RuneError) // the low surrogate is left alone
			}
		}
		i += size
	}
	return b.String()
}

// UTF16Len returns the length of s in UTF-16 code units, as .NET counts a
// string's Length: the unit of the Table service's key and column limits.
// Bytes that are not valid UTF-8 count as one unit each (they decode to
// U+FFFD).
func UTF16Len(s string) int {
	n := 0
	for _, r := range s {
		if utf16.RuneLen(r) == 2 {
			n += 2
		} else {
			n++
		}
	}
	return n
}
