package replay

import "testing"

// deepThen calls f under n more frames.
func deepThen(n int, f func() bool) bool {
	if n == 0 {
		return f()
	}
	return deepThen(n-1, f)
}

// onCoroutine holds on a coroutine goroutine however deep its stack (the
// frames are read in batches), and not on a plain goroutine, however deep
// either.
func TestOnCoroutine(t *testing.T) {
	for _, depth := range []int{0, 1, 62, 63, 64, 65, 200} {
		co := &coroutine{e: &Engine{}, resume: make(chan struct{}), yield: make(chan struct{}, 1)}
		var onCo bool
		go co.run(nil, func(*Context) { onCo = deepThen(depth, onCoroutine) })
		co.resume <- struct{}{}
		<-co.yield
		if !onCo {
			t.Errorf("depth %d: a coroutine goroutine is not seen as one", depth)
		}
		plain := make(chan bool)
		go func() { plain <- deepThen(depth, onCoroutine) }()
		if <-plain {
			t.Errorf("depth %d: a plain goroutine is seen as a coroutine", depth)
		}
	}
	if onCoroutine() {
		t.Error("the test's goroutine is seen as a coroutine")
	}
}
