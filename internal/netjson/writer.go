package netjson

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// Writer appends compact JSON to a byte slice. Objects are opened and closed
// explicitly and members are written in call order.
type Writer struct {
	buf      []byte
	comma    []bool // per open container: a member was already written
	afterKey bool   // a Key was written and its value is next
}

// NewWriter returns a Writer that appends to dst.
func NewWriter(dst []byte) *Writer { return &Writer{buf: dst} }

// Bytes returns the JSON written so far.
func (w *Writer) Bytes() []byte { return w.buf }

func (w *Writer) sep() {
	if n := len(w.comma); n > 0 {
		if w.comma[n-1] {
			w.buf = append(w.buf, ',')
		}
		w.comma[n-1] = true
	}
}

// BeginObject starts an object as a value (at top level, as an array element,
// or after Key).
func (w *Writer) BeginObject() {
	w.value()
	w.buf = append(w.buf, '{')
	w.comma = append(w.comma, false)
}

// EndObject closes the innermost object.
func (w *Writer) EndObject() {
	w.comma = w.comma[:len(w.comma)-1]
	w.buf = append(w.buf, '}')
}

// BeginArray starts an array as a value.
func (w *Writer) BeginArray() {
	w.value()
	w.buf = append(w.buf, '[')
	w.comma = append(w.comma, false)
}

// EndArray closes the innermost array.
func (w *Writer) EndArray() {
	w.comma = w.comma[:len(w.comma)-1]
	w.buf = append(w.buf, ']')
}

// value emits the separator before a value, except right after a Key.
func (w *Writer) value() {
	if w.afterKey {
		w.afterKey = false
		return
	}
	w.sep()
}

// Key writes a member name; the next call writes its value.
func (w *Writer) Key(name string) {
	w.sep()
	w.buf = AppendString(w.buf, name)
	w.buf = append(w.buf, ':')
	w.afterKey = true
}

// String writes a string value.
func (w *Writer) String(s string) {
	w.value()
	w.buf = AppendString(w.buf, s)
}

// NullableString writes a string value, or null when s is nil.
func (w *Writer) NullableString(s *string) {
	if s == nil {
		w.Null()
		return
	}
	w.String(*s)
}

// Null writes null.
func (w *Writer) Null() {
	w.value()
	w.buf = append(w.buf, "null"...)
}

// Bool writes true or false.
func (w *Writer) Bool(b bool) {
	w.value()
	w.buf = strconv.AppendBool(w.buf, b)
}

// Int writes an integer.
func (w *Writer) Int(n int64) {
	w.value()
	w.buf = strconv.AppendInt(w.buf, n, 10)
}

// Time writes a UTC DateTime as Newtonsoft does (Z, up to 7 fraction digits,
// trailing zeros trimmed).
func (w *Writer) Time(t time.Time) {
	w.value()
	w.buf = append(w.buf, '"')
	w.buf = AppendTime(w.buf, t)
	w.buf = append(w.buf, '"')
}

// TimeOffset writes a DateTimeOffset value (numeric offset, "+00:00" for UTC).
func (w *Writer) TimeOffset(t time.Time) {
	w.value()
	w.buf = append(w.buf, '"')
	w.buf = t.Truncate(100*time.Nanosecond).AppendFormat(w.buf, "2006-01-02T15:04:05.9999999-07:00")
	w.buf = append(w.buf, '"')
}

// Raw writes already-encoded JSON text as a value. The caller guarantees
// that raw is valid, compact JSON.
func (w *Writer) Raw(raw []byte) {
	w.value()
	w.buf = append(w.buf, raw...)
}

// AppendTime appends t in .NET round-trip form as Newtonsoft writes a UTC
// DateTime: yyyy-MM-ddTHH:mm:ss[.fffffff]Z with trailing zeros of the
// fraction removed. Precision is .NET's 100 ns tick.
func AppendTime(dst []byte, t time.Time) []byte {
	return t.UTC().Truncate(100*time.Nanosecond).AppendFormat(dst, "2006-01-02T15:04:05.9999999Z")
}

// FormatTime returns AppendTime's text.
func FormatTime(t time.Time) string { return string(AppendTime(nil, t)) }

// FormatTime7 formats t as the Table service's C# client writes Edm.DateTime
// values: always seven fraction digits and Z.
func FormatTime7(t time.Time) string {
	return t.UTC().Truncate(100 * time.Nanosecond).Format("2006-01-02T15:04:05.0000000Z")
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string escaped like Newtonsoft's default
// StringEscapeHandling: '"' and '\\', control characters (\b \t \n \f \r,
// others as \u00xx), and U+0085, U+2028, U+2029. Everything else, including
// '<', '>', '&', '\” and non-ASCII, is written literally. Invalid UTF-8 is
// replaced by U+FFFD, as .NET's UTF-8 decoder would.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"':
				dst = append(dst, '\\', '"')
			case '\\':
				dst = append(dst, '\\', '\\')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\r':
				dst = append(dst, '\\', 'r')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\ufffd"...)
			i += size
			start = i
			continue
		}
		if r == 0x85 || r == 0x2028 || r == 0x2029 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
