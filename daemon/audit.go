package daemon

import (
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/store"
)

// The audit log records every token hand-out. Writing each record in its own
// transaction would put an fsync on every token request; instead hand-outs
// queue their record and one goroutine writes whatever has queued in one
// transaction, at most auditDelay later. Identical hand-outs within one
// write (the same caller, server and action) become one record with a
// count, so a busy caller costs the disk and the CPU nothing per request.
// A crash loses at most auditDelay of the log, never a credential.
const (
	auditQueue = 4096
	auditDelay = 200 * time.Millisecond
)

// audit queues rec. When the queue is full (the disk cannot keep up) the
// record is dropped and counted, rather than slowing token hand-out. After
// Close has stopped the writer (a request handler that outlived the
// shutdown) rec is written at once, or the loss logged when the store is
// closed too.
func (d *Daemon) audit(rec store.AuditRecord) {
	if rec.Time.IsZero() {
		rec.Time = time.Now()
	}
	d.auditMu.RLock()
	if !d.auditClosed {
		select {
		case d.auditCh <- rec:
		default:
			d.auditDropped.Add(1)
		}
		d.auditMu.RUnlock()
		return
	}
	d.auditMu.RUnlock()
	if err := d.st.AppendAudit(rec); err != nil {
		d.log.Warn("audit record of a hand-out after shutdown not written", "server", rec.Server, "err", err)
	}
}

// auditKey identifies identical hand-outs.
type auditKey struct {
	server, action, exe, app, via, tool, program string
	pid, uid                                     int
}

// auditBatch collects the records of one write, coalescing identical ones.
type auditBatch struct {
	index map[auditKey]int
	recs  []store.AuditRecord
}

func (b *auditBatch) add(rec store.AuditRecord) {
	k := auditKey{rec.Server, rec.Action, rec.Exe, rec.App, rec.Via, rec.Tool, rec.Program, rec.PID, rec.UID}
	if i, ok := b.index[k]; ok {
		r := &b.recs[i]
		r.Count = max(r.Count, 1) + max(rec.Count, 1)
		r.Time = rec.Time
		return
	}
	if b.index == nil {
		b.index = map[auditKey]int{}
	}
	b.index[k] = len(b.recs)
	b.recs = append(b.recs, rec)
}

// auditWriter drains the queue until it is closed.
func (d *Daemon) auditWriter() {
	defer close(d.auditDone)
	var batch auditBatch
	flush := func() {
		if len(batch.recs) == 0 {
			return
		}
		if err := d.st.AppendAudit(batch.recs...); err != nil {
			d.log.Warn("audit records not written", "records", len(batch.recs), "err", err)
		} else {
			d.publish(ipc.Event{Type: ipc.EventAudit})
		}
		batch = auditBatch{}
	}
	for {
		rec, ok := <-d.auditCh
		if !ok {
			return
		}
		batch.add(rec)
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
				batch.add(rec)
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
// auditClosed is set under auditMu before the queue is closed, so no audit
// call can be sending on it then.
func (d *Daemon) flushAudit() {
	d.auditOnce.Do(func() {
		d.auditMu.Lock()
		d.auditClosed = true
		d.auditMu.Unlock()
		close(d.auditCh)
		<-d.auditDone
	})
}
