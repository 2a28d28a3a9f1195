package leaseq

import (
	"context"
	"log"
	"os"
	"time"
)

// Logger receives the worker's log lines; *log.Logger is one. (Go 1.19 has no
// log/slog: adapt yours with a Printf method.)
type Logger interface {
	Printf(format string, args ...any)
}

func defaultLogger() Logger {
	return log.New(os.Stderr, "leaseq: ", log.LstdFlags|log.Lmsgprefix)
}

// detached keeps a context's values but not its cancellation or deadline: handlers
// see the values of Run's ctx, and outlive its cancellation by the shutdown grace.
type detached struct{ parent context.Context }

func (d detached) Deadline() (time.Time, bool) { return time.Time{}, false }
func (d detached) Done() <-chan struct{}       { return nil }
func (d detached) Err() error                  { return nil }
func (d detached) Value(key any) any           { return d.parent.Value(key) }
