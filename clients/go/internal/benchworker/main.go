// Command benchworker is the Go SDK's worker for bench/leaseq_bench.py: the protocol of
// bench/bench_worker.py (the Python SDK's), so the two run the same measurement. It
// prints READY once connected, starts on "go" (stdin), answers "handled" with the
// number of handler starts and "stats" with a JSON line, and stops on "stop".
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/leaseq/leaseq/clients/go"
	"github.com/leaseq/leaseq/clients/go/internal/monoclock"
)

// counting counts lease and report requests by path; a lease request carrying results
// (ADR 33) counts as a report too, as the Python worker's report batches do.
type counting struct {
	inner           http.RoundTripper
	leases, reports atomic.Int64
}

func (c *counting) RoundTrip(req *http.Request) (*http.Response, error) {
	switch req.URL.Path {
	case "/v1/leases":
		c.leases.Add(1)
		if carriesResults(req) {
			c.reports.Add(1)
		}
	case "/v1/results":
		c.reports.Add(1)
	}
	return c.inner.RoundTrip(req)
}

func carriesResults(req *http.Request) bool {
	if req.GetBody == nil {
		return false
	}
	body, err := req.GetBody()
	if err != nil {
		return false
	}
	data, _ := io.ReadAll(body)
	return bytes.Contains(data, []byte(`"results":[`))
}

func main() {
	url := flag.String("url", "http://127.0.0.1:8000", "the service")
	concurrency := flag.Int("concurrency", 10, "handlers at once")
	wait := flag.Float64("wait-seconds", 5, "long-poll wait")
	prefetch := flag.Int("prefetch", 0, "WorkerOptions.Prefetch (0: automatic, negative: none)")
	flag.Parse()

	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 64
	calls := &counting{inner: transport}
	c, err := leaseq.NewClient(*url, leaseq.WithHTTPClient(&http.Client{Transport: calls}), leaseq.WithTimeout(30*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	w := leaseq.NewWorker(c, leaseq.WorkerOptions{
		Queue: "bench", Concurrency: *concurrency, Prefetch: *prefetch,
		PollWait:      time.Duration(*wait * float64(time.Second)),
		ShutdownGrace: 5 * time.Second, Logger: log.New(os.Stderr, "leaseq: ", log.LstdFlags),
	})
	var handled atomic.Int64
	var mu sync.Mutex
	last := 0.0
	w.Handle("noop", 1, func(ctx context.Context, job *leaseq.Job) (any, error) {
		now := monoclock.Seconds()
		mu.Lock()
		last = now
		mu.Unlock()
		handled.Add(1)
		return nil, nil
	})
	if _, err := c.QueueStats(context.Background(), "bench"); err != nil { // connected and answering
		log.Fatal(err)
	}
	fmt.Println("READY")
	commands := bufio.NewScanner(os.Stdin)
	if !commands.Scan() || commands.Text() != "go" {
		log.Fatalf("want go, got %q", commands.Text())
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	for commands.Scan() {
		switch commands.Text() {
		case "handled":
			fmt.Println(handled.Load())
		case "stats":
			n := float64(handled.Load())
			mu.Lock()
			stats := map[string]float64{
				"handled": n, "t_last": last,
				"mean_claim":  n / float64(max1(calls.leases.Load())),
				"mean_report": n / float64(max1(calls.reports.Load())),
			}
			mu.Unlock()
			line, _ := json.Marshal(stats)
			fmt.Println(string(line))
		case "stop", "":
			stop()
			if err := <-done; err != nil {
				log.Fatal(err)
			}
			return
		}
	}
	stop()
	<-done
}

func max1(n int64) int64 {
	if n < 1 {
		return 1
	}
	return n
}
