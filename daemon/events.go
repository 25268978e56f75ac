package daemon

import (
	"maps"
	"slices"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
)

// subHeadroom is how many events a subscriber may fall behind after its
// snapshot before it is closed with an ipc.EventLagged event.
const subHeadroom = 256

// Subscribe returns a channel of events: first one "server" event per known
// server (the snapshot), then every change as it happens. The snapshot is
// taken and the channel registered under one lock, so no change falls
// between them. The channel holds the whole snapshot plus subHeadroom
// events: Subscribe never blocks, whatever the number of servers.
//
// Publishing never waits for a subscriber. One that falls further behind
// gets a last ipc.EventLagged event and its channel is closed: it must
// subscribe again for a fresh snapshot. The channel is also closed by
// Unsubscribe and by Close.
func (d *Daemon) Subscribe() chan ipc.Event {
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	// Lock order: d.mu, then each s.mu (info); nothing takes them the
	// other way round.
	snap := infos(slices.Collect(maps.Values(d.servers)))
	ch := make(chan ipc.Event, len(snap)+subHeadroom)
	for i := range snap {
		ch <- ipc.Event{Type: "server", Server: &snap[i], Time: now}
	}
	// The pending approvals follow (lock order: d.mu, then appr.mu).
	for _, p := range d.PendingApprovals() {
		if len(ch) < cap(ch)-1 {
			ch <- ipc.Event{Type: ipc.EventApproval, Approval: &p, Time: now}
		}
	}
	if d.closed {
		close(ch)
	} else {
		d.subs[ch] = struct{}{}
	}
	return ch
}

// Unsubscribe stops and closes ch (unless it was closed already for
// falling behind).
func (d *Daemon) Unsubscribe(ch chan ipc.Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.subs[ch]; ok {
		delete(d.subs, ch)
		close(ch)
	}
}

// publish hands ev to every subscriber without blocking. The last free slot
// of a subscriber's channel is kept for ipc.EventLagged: a subscriber that
// would need it for anything else is sent that event and dropped.
func (d *Daemon) publish(ev ipc.Event) {
	ev.Time = time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	for ch := range d.subs {
		if len(ch) < cap(ch)-1 {
			ch <- ev
			continue
		}
		ch <- ipc.Event{Type: ipc.EventLagged, Time: ev.Time}
		close(ch)
		delete(d.subs, ch)
		d.log.Warn("an event subscriber fell behind; its stream was closed and it must reconnect", "queued", cap(ch))
	}
}
