// Package stdiopoll makes a process's standard input readable through the
// Go runtime's network poller, for the relays that read their app's
// messages from it (mcpauthd proxy).
//
// os.Stdin is a blocking file: a goroutine reading it holds an OS thread
// in read(2), and when a line arrives the runtime must hand a processor
// back to that thread (through sysmon, when the process runs on one) before
// the goroutine that handles the line can run. Read through the poller, the
// goroutine waits like a network connection's and wakes on the thread
// that polls. Measured in docs/benchmarks.md ("The hop for a plain
// newline-JSON client").
package stdiopoll
