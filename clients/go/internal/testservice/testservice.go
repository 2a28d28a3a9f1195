// Package testservice starts a real `leaseq serve` on PostgreSQL for the SDK's
// integration tests: the service from the project's venv (or LEASEQ_BIN), on the
// database server of LEASEQ_TEST_DATABASE_URL (a fresh database of its own), else on
// its embedded PostgreSQL in a temporary directory.
package testservice

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrNoService: no leaseq command to start. Outside CI the tests skip on it; in CI
// (CI=true) they fail.
var ErrNoService = errors.New("no leaseq command: set LEASEQ_BIN or run `make install` at the repository root")

// Service is a running `leaseq serve`.
type Service struct {
	URL      string
	Where    string // which PostgreSQL
	cmd      *exec.Cmd
	logPath  string
	dir      string
	dropDB   func()
	finished chan struct{}
}

// Options of a service; Env is added to the service's environment.
type Options struct {
	Memory bool     // the in-memory store (for tests of the HTTP edge, e.g. tokens)
	Env    []string // KEY=VALUE
}

// InCI reports whether a missing service must fail the run rather than skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// Bin finds the leaseq command: LEASEQ_BIN, else .venv/bin/leaseq in a directory at or
// above the working directory.
func Bin() (string, error) {
	if bin := os.Getenv("LEASEQ_BIN"); bin != "" {
		return bin, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		candidate := filepath.Join(dir, ".venv", "bin", "leaseq")
		if _, err := os.Stat(candidate); err == nil {
			return candidate, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", ErrNoService
		}
		dir = parent
	}
}

// Start runs a service and waits until it is ready.
func Start(opts Options) (*Service, error) {
	bin, err := Bin()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "leaseq-go-test-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Service{
		URL: fmt.Sprintf("http://127.0.0.1:%d", port), dir: dir,
		logPath: filepath.Join(dir, "service.log"), finished: make(chan struct{}),
	}
	args := []string{"serve", "--port", strconv.Itoa(port), "--no-access-log"}
	switch admin := os.Getenv("LEASEQ_TEST_DATABASE_URL"); {
	case opts.Memory:
		args = append(args, "--memory")
		s.Where = "in-memory store"
	case admin != "":
		dbURL, drop, err := freshDatabase(bin, admin)
		if err != nil {
			s.cleanup()
			return nil, err
		}
		s.dropDB = drop
		args = append(args, "--database-url", dbURL, "--migrate")
		s.Where = "PostgreSQL of LEASEQ_TEST_DATABASE_URL"
	default:
		args = append(args, "--data-dir", filepath.Join(dir, "data"))
		s.Where = "embedded PostgreSQL"
	}
	logFile, err := os.Create(s.logPath)
	if err != nil {
		s.cleanup()
		return nil, err
	}
	defer logFile.Close()
	s.cmd = exec.Command(bin, args...)
	s.cmd.Env = append(serviceEnv(), opts.Env...)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		s.cleanup()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.finished)
	}()
	if err := s.waitReady(120 * time.Second); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// serviceEnv: ours, without settings that would change what the tests expect, and with
// quick maintenance so that expired leases come back within a test's time.
func serviceEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "LEASEQ_TOKENS", "LEASEQ_TOKENS_FILE", "LEASEQ_DATABASE_URL", "LEASEQ_MEMORY", "LEASEQ_PORT", "LEASEQ_HOST":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LEASEQ_EXPIRY_INTERVAL_SECONDS=0.2", "LEASEQ_READY_CHECK_INTERVAL_SECONDS=0.2")
}

func (s *Service) waitReady(within time.Duration) error {
	deadline := time.Now().Add(within)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-s.finished:
			return fmt.Errorf("leaseq serve exited:\n%s", s.Log())
		default:
		}
		if resp, err := client.Get(s.URL + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("leaseq serve was not ready within %v:\n%s", within, s.Log())
}

// Log is the service's output so far (its last 4,000 bytes).
func (s *Service) Log() string {
	data, _ := os.ReadFile(s.logPath)
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return string(data)
}

// Stop ends the service (SIGTERM: the embedded PostgreSQL stops with it) and removes
// what it left.
func (s *Service) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.finished:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.finished
		}
	}
	s.cleanup()
}

func (s *Service) cleanup() {
	if s.dropDB != nil {
		s.dropDB()
	}
	_ = os.RemoveAll(s.dir)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// freshDatabase creates a database of its own on the admin URL's server, with the venv's
// Python (the SDK has no PostgreSQL driver: the standard library only).
func freshDatabase(bin, admin string) (string, func(), error) {
	python := filepath.Join(filepath.Dir(bin), "python")
	name := fmt.Sprintf("leaseq_go_%d_%d", os.Getpid(), time.Now().UnixNano()%1e6)
	run := func(statement string) error {
		script := `import asyncio, sys, asyncpg
async def main():
    conn = await asyncpg.connect(sys.argv[1])
    try:
        await conn.execute(sys.argv[2])
    finally:
        await conn.close()
asyncio.run(main())`
		out, err := exec.Command(python, "-c", script, admin, statement).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s on LEASEQ_TEST_DATABASE_URL: %v\n%s", statement, err, out)
		}
		return nil
	}
	if err := run(`CREATE DATABASE "` + name + `"`); err != nil {
		return "", nil, err
	}
	u, err := url.Parse(admin)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() { _ = run(`DROP DATABASE IF EXISTS "` + name + `" WITH (FORCE)`) }
	return u.String(), drop, nil
}
