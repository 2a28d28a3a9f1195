// Command worker runs "send_email" tasks of the "emails" queue until SIGINT or SIGTERM.
//
//	LEASEQ_URL=http://127.0.0.1:8000 go run ./examples/worker
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/leaseq/leaseq/clients/go"
)

func main() {
	c, err := leaseq.NewClient(env("LEASEQ_URL", "http://127.0.0.1:8000"), leaseq.WithToken(os.Getenv("LEASEQ_TOKEN")))
	if err != nil {
		log.Fatal(err)
	}
	w := leaseq.NewWorker(c, leaseq.WorkerOptions{Queue: "emails", Concurrency: 20})
	w.Handle("send_email", 1, sendEmail)
	if err := w.Run(stopOnSignals(w)); err != nil {
		log.Fatal(err)
	}
}

// stopOnSignals: the first SIGINT or SIGTERM stops the worker gracefully (running
// handlers get their grace period), the second releases their tasks at once
// (StopNow), a third exits the process.
func stopOnSignals(w *leaseq.Worker) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 3)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-signals
		cancel()
		<-signals
		w.StopNow()
		<-signals
		os.Exit(130)
	}()
	return ctx
}

type email struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
}

// sendEmail "sends" one email. A real one would pass job.ID as the mail provider's
// idempotency key: the same on every redelivery of this task, so a retry after a lost
// answer does not send the email twice.
func sendEmail(ctx context.Context, job *leaseq.Job) (any, error) {
	var m email
	if err := job.Decode(&m); err != nil {
		return nil, leaseq.Fatal(fmt.Errorf("unreadable payload: %w", err))
	}
	if !strings.Contains(m.To, "@") {
		return nil, leaseq.Fatal(fmt.Errorf("bad address %q", m.To))
	}
	if strings.HasPrefix(m.To, "greylisted") && job.Attempt == 1 {
		return nil, fmt.Errorf("smtp 451 from %s: %w", m.To, leaseq.Retry(time.Second))
	}
	select {
	case <-time.After(100 * time.Millisecond): // the SMTP round trip
	case <-ctx.Done():
		return nil, errors.New("stopped before sending")
	}
	log.Printf("sent %q to %s (task %s, attempt %d, epoch %d)", m.Subject, m.To, job.ID, job.Attempt, job.Epoch)
	return map[string]string{"message_id": "msg-" + job.ID[len(job.ID)-12:]}, nil
}

func env(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}
