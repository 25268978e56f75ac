package proxy

import "sync"

// maxIdleWorkers bounds the goroutines a relay keeps waiting for requests
// (a few tens of KiB of stack each).
const maxIdleWorkers = 4

// workers runs the app's requests of a ready session, each on a goroutine
// of its own (a slow answer holds up no other request), reusing the
// goroutines that finished: a new goroutine starts with a small stack that
// is copied two or three times as a request goes through the HTTP client
// and back to the app, and on a relay waiting between calls that costs
// about 0.03 ms a call (measured: docs/benchmarks.md, "The hop for a plain
// newline-JSON client"). Up to maxIdleWorkers finished goroutines wait for
// the next request; the rest exit. Safe for concurrent use.
type workers struct {
	mu   sync.Mutex
	idle []chan func() // each an idle worker's, buffered (1)
	quit chan struct{} // closed by stop
	wg   sync.WaitGroup
	// started counts the goroutines started (under mu).
	started int
}

func newWorkers() *workers { return &workers{quit: make(chan struct{})} }

// do runs f on an idle worker, or on a new one.
func (w *workers) do(f func()) {
	w.mu.Lock()
	if n := len(w.idle); n > 0 {
		ch := w.idle[n-1]
		w.idle = w.idle[:n-1]
		w.mu.Unlock()
		ch <- f // never blocks: the worker left the list, the buffer is empty
		return
	}
	w.started++
	w.mu.Unlock()
	w.wg.Add(1)
	go w.work(make(chan func(), 1), f)
}

func (w *workers) work(ch chan func(), f func()) {
	defer w.wg.Done()
	for {
		f()
		w.mu.Lock()
		if len(w.idle) >= maxIdleWorkers {
			w.mu.Unlock()
			return
		}
		w.idle = append(w.idle, ch)
		w.mu.Unlock()
		select {
		case f = <-ch:
		case <-w.quit:
			return
		}
	}
}

// stop ends the idle workers and waits for all to end; do must not be
// called after it, nor concurrently.
func (w *workers) stop() {
	close(w.quit)
	w.wg.Wait()
}
