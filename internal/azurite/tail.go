package azurite

import "sync"

// tailSize is how much of Azurite's output is kept for error messages.
const tailSize = 64 << 10

// tail is an io.Writer that keeps the last tailSize bytes written to it.
// Azurite's stdout and stderr are copied by separate goroutines, hence the
// mutex.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	// Trim only when well over the limit so appends stay amortized O(1).
	if len(t.buf) > 2*tailSize {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailSize:]...)
	}
	return len(p), nil
}

// String returns at most the last tailSize bytes.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf
	if len(b) > tailSize {
		b = b[len(b)-tailSize:]
	}
	return string(b)
}
