// Command raceworker is a Go SDK worker for the race suite (tests/concurrency): it runs
// handlers of type "job" that leave "start"/"done" lines in an effects file and return
// {"worker", "epoch"}, and it writes every lease call and its answer into an event
// history that the suite's checker reads (tests/concurrency/history.py), one flushed
// JSON line each, so a SIGKILL loses at most the call in flight.
//
//	raceworker -url http://127.0.0.1:8000 -queue faults -name go0 -out DIR
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/leaseq/leaseq/clients/go"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8000", "the service")
	queue := flag.String("queue", "faults", "the queue")
	name := flag.String("name", "go0", "the worker's id and the actor in the history")
	out := flag.String("out", ".", "where events-NAME.jsonl and effects-NAME.jsonl go")
	concurrency := flag.Int("concurrency", 4, "handlers at once")
	lease := flag.Duration("lease", 2*time.Second, "lease duration")
	poll := flag.Duration("poll", 500*time.Millisecond, "long-poll wait")
	work := flag.Duration("work", 50*time.Millisecond, "how long each handler works")
	flag.Parse()

	events, err := openLines(filepath.Join(*out, "events-"+*name+".jsonl"))
	if err != nil {
		log.Fatal(err)
	}
	effects, err := openLines(filepath.Join(*out, "effects-"+*name+".jsonl"))
	if err != nil {
		log.Fatal(err)
	}
	recording := &recorder{inner: http.DefaultTransport, actor: *name, log: events, epochs: map[string]int64{}}
	c, err := leaseq.NewClient(*url, leaseq.WithHTTPClient(&http.Client{Transport: recording}))
	if err != nil {
		log.Fatal(err)
	}
	w := leaseq.NewWorker(c, leaseq.WorkerOptions{
		Queue: *queue, Concurrency: *concurrency, WorkerID: *name, LeaseDuration: *lease,
		PollWait: *poll, ShutdownGrace: 5 * time.Second,
	})
	w.Handle("job", 1, func(ctx context.Context, job *leaseq.Job) (any, error) {
		effect := func(phase string) {
			effects.add(map[string]any{"task": job.ID, "epoch": job.Epoch, "worker": *name, "phase": phase})
		}
		effect("start")
		select {
		case <-time.After(*work):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		effect("done")
		return map[string]any{"worker": *name, "epoch": job.Epoch}, nil
	})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := w.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// lines is a JSON-lines file; each line is one write.
type lines struct {
	mu sync.Mutex
	f  *os.File
}

func openLines(path string) (*lines, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	return &lines{f: f}, err
}

func (l *lines) add(v any) {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.f.Write(append(data, '\n')); err != nil {
		panic(err)
	}
}
