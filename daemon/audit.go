package daemon

import (
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/store"
)

// The audit log records every token hand-out. Writing each record in its own
// transaction would put an fsync on every token request; instead hand-outs
// queue their record and one goroutine writes whatever has queued in one
// transaction, at most auditDelay later. A crash loses at most that much of
// the log, never a credential.
const (
	auditQueue = 4096
	auditDelay = 200 * time.Millisecond
)

// audit queues rec. When the queue is full (the disk cannot keep up) the
// record is dropped and counted, rather than slowing token hand-out.
func (d *Daemon) audit(rec store.AuditRecord) {
	if rec.Time.IsZero() {
		rec.Time = time.Now()
	}
	select {
	case d.auditCh <- rec:
	default:
		d.auditDropped.Add(1)
	}
}

// auditWriter drains the queue until it is closed.
func (d *Daemon) auditWriter() {
	defer close(d.auditDone)
	var batch []store.AuditRecord
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if err := d.st.AppendAudit(batch...); err != nil {
			d.log.Warn("audit records not written", "records", len(batch), "err", err)
		} else {
			d.publish(ipc.Event{Type: ipc.EventAudit})
		}
		batch = batch[:0]
	}
	for {
		rec, ok := <-d.auditCh
		if !ok {
			return
		}
		batch = append(batch, rec)
		timer := time.NewTimer(auditDelay)
	collect:
		for {
			select {
			case rec, ok := <-d.auditCh:
				if !ok {
					timer.Stop()
					flush()
					return
				}
				batch = append(batch, rec)
			case <-timer.C:
				break collect
			}
		}
		flush()
		if n := d.auditDropped.Swap(0); n > 0 {
			d.log.Warn("audit records dropped: the disk is not keeping up", "records", n)
		}
	}
}

// flushAudit stops the writer after it has written everything queued.
func (d *Daemon) flushAudit() {
	d.auditOnce.Do(func() {
		close(d.auditCh)
		<-d.auditDone
	})
}
