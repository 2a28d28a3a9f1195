// Command enqueue enqueues one "send_email" task per address given, waits for each to
// finish, and prints how it ended.
//
//	LEASEQ_URL=http://127.0.0.1:8000 go run ./examples/enqueue a@example.com b@example.com
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/leaseq/leaseq/clients/go"
)

func main() {
	url := os.Getenv("LEASEQ_URL")
	if url == "" {
		url = "http://127.0.0.1:8000"
	}
	c, err := leaseq.NewClient(url, leaseq.WithToken(os.Getenv("LEASEQ_TOKEN")))
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tasks := make([]leaseq.NewTask, 0, len(os.Args)-1)
	for _, to := range os.Args[1:] {
		tasks = append(tasks, leaseq.NewTask{
			Queue: "emails", Type: "send_email", Version: 1,
			Payload:     map[string]string{"to": to, "subject": "Welcome"},
			MaxAttempts: 3,
		})
	}
	refs, err := c.EnqueueBatch(ctx, tasks)
	if err != nil {
		log.Fatal(err)
	}
	for i, ref := range refs {
		task, err := c.Wait(ctx, ref.ID, 50*time.Millisecond)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%-22s %s  %-9s attempts=%d result=%s error=%q\n",
			os.Args[i+1], task.ID, task.State, task.Attempts, task.Result, task.LastError)
	}
}
