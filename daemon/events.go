package daemon

import (
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
)

// Subscribe returns a channel of events, starting with one "server" event
// per known server. The channel is closed by Unsubscribe or Close. A
// subscriber that falls more than 256 events behind loses events (and gets
// a fresh snapshot by subscribing again).
func (d *Daemon) Subscribe() chan ipc.Event {
	ch := make(chan ipc.Event, 256)
	for _, in := range d.Servers() {
		ch <- ipc.Event{Type: "server", Server: ptr(in), Time: time.Now()}
	}
	d.mu.Lock()
	if d.closed {
		close(ch)
	} else {
		d.subs[ch] = struct{}{}
	}
	d.mu.Unlock()
	return ch
}

// Unsubscribe stops and closes ch.
func (d *Daemon) Unsubscribe(ch chan ipc.Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.subs[ch]; ok {
		delete(d.subs, ch)
		close(ch)
	}
}

func (d *Daemon) publish(ev ipc.Event) {
	ev.Time = time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	for ch := range d.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}
