package proxy

import (
	"sync"
	"testing"
	"time"
)

// TestWorkers: requests run at once however many are in flight (none waits
// for another), a finished goroutine takes the next request, at most
// maxIdleWorkers wait, and stop ends them.
func TestWorkers(t *testing.T) {
	w := newWorkers()
	release := make(chan struct{})
	var started sync.WaitGroup
	const n = 3 * maxIdleWorkers
	started.Add(n)
	for range n {
		w.do(func() {
			started.Done()
			<-release // every one of them is in flight at once
		})
	}
	done := make(chan struct{})
	go func() { started.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute): // a bound on a hang, not a speed
		t.Fatal("requests in flight held up the others")
	}
	close(release)
	waitIdle := func(want int) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
			w.mu.Lock()
			got := len(w.idle)
			w.mu.Unlock()
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d idle workers, want %d", got, want)
			}
		}
	}
	waitIdle(maxIdleWorkers)

	// The next request goes to an idle worker: no goroutine is started.
	ran := make(chan struct{})
	w.do(func() { close(ran) })
	<-ran
	waitIdle(maxIdleWorkers)
	w.mu.Lock()
	if w.started != n {
		t.Errorf("%d goroutines started for %d requests, want %d (the last one reuses a worker)", w.started, n+1, n)
	}
	w.mu.Unlock()

	stopped := make(chan struct{})
	go func() { w.stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(time.Minute):
		t.Fatal("stop did not end the idle workers")
	}
}
