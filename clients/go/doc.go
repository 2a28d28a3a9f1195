// Package leaseq is the Go SDK of leaseq, a task queue on PostgreSQL with fenced
// leases: a Client for producers and operators, and a Worker that leases tasks by type
// and version, runs their handlers concurrently, renews each lease while its handler
// runs, and reports the outcome.
//
// A worker:
//
//	c, err := leaseq.NewClient("http://127.0.0.1:8000")
//	if err != nil {
//		log.Fatal(err)
//	}
//	w := leaseq.NewWorker(c, leaseq.WorkerOptions{Queue: "emails", Concurrency: 20})
//	w.Handle("send_email", 1, func(ctx context.Context, job *leaseq.Job) (any, error) {
//		return map[string]bool{"sent": true}, nil
//	})
//	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
//	defer stop()
//	if err := w.Run(ctx); err != nil { // returns nil after a graceful shutdown
//		log.Fatal(err)
//	}
//
// Errors are values: *APIError carries the service's problem+json answer and matches
// the sentinels (ErrLeaseLost, ErrTaskNotFound, ErrValidation, …) with errors.Is; a
// call with no answer is a *TransportError. Calls are sent again only when that is
// safe: reads, heartbeats, and enqueues (each task carries an idempotency key, which
// the SDK makes when none is given); any call whose request never left.
//
// The standard library only; Go 1.19.
package leaseq
