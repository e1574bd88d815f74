package azurestorage

// Test hooks for the package's external tests.

// HeldWorkItems is the number of work-item messages the backend holds
// (received, kept back, or waiting for the commit of their result).
func HeldWorkItems(b *Backend) int { return b.keep.held() }

// WaitingActivityCallers is the number of callers waiting in
// LockNextActivity.
func WaitingActivityCallers(b *Backend) int {
	b.act.mu.Lock()
	defer b.act.mu.Unlock()
	return b.act.waiting
}
