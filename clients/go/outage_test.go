package leaseq

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// recordedLog keeps the worker's log lines.
type recordedLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *recordedLog) Printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *recordedLog) starting(prefix string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var found []string
	for _, line := range l.lines {
		if strings.HasPrefix(line, prefix) {
			found = append(found, line)
		}
	}
	return found
}

// has: whether a line contains part.
func (l *recordedLog) has(part string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, part) {
			return true
		}
	}
	return false
}

func TestAnOutageIsLoggedOnceWhenItStartsAndOnceWhenItEnds(t *testing.T) {
	var leaseCalls int32
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if atomic.AddInt32(&leaseCalls, 1) <= 12 { // the database is down for a while
			w.WriteHeader(503)
			_, _ = w.Write([]byte(`{"type":"store_unavailable","title":"Store unavailable","status":503,"detail":"the database is unavailable"}`))
			return
		}
		time.Sleep(20 * time.Millisecond)
		_, _ = w.Write([]byte(`{"leases":[],"waited_seconds":0}`))
	}))
	t.Cleanup(server.Close)
	c, err := NewClient(server.URL)
	if err != nil {
		t.Fatal(err)
	}
	log := &recordedLog{}
	w := NewWorker(c, WorkerOptions{Queue: "q", Logger: log})
	w.Handle("job", 1, func(ctx context.Context, job *Job) (any, error) { return nil, nil })
	runWorker(t, w)
	eventually(t, 20*time.Second, "the service answering again", func() bool {
		return len(log.starting("service reachable again")) == 1
	})
	if down := log.starting("service unreachable"); len(down) != 1 {
		t.Errorf("outage lines: %q", down)
	}
	if failed := log.starting("leasing failed"); len(failed) != 0 {
		t.Errorf("a line per failed attempt: %q", failed)
	}
}
