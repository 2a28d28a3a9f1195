package leaseq

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Version is this SDK's version, sent in the User-Agent header.
const Version = "0.1.0"

const maxAnswerBytes = 64 << 20 // an answer larger than this is cut (and fails to decode)

// Client talks to a leaseq service over HTTP: producers enqueue with it, operators
// inspect and cancel, and a Worker leases and reports through it. It is safe for
// concurrent use.
type Client struct {
	base    string
	token   string
	http    *http.Client
	timeout time.Duration
	retries retryRule
}

// Option configures a Client.
type Option func(*Client) error

// WithToken sends `Authorization: Bearer token` (scopes produce, work or admin).
func WithToken(token string) Option {
	return func(c *Client) error {
		if strings.ContainsAny(token, "\r\n\x00") {
			return invalid("token", "must not contain CR, LF or NUL")
		}
		c.token = token
		return nil
	}
}

// WithHTTPClient uses the given client (its transport, proxies, TLS settings). Its own
// Timeout, if any, must exceed a worker's long poll (WorkerOptions.PollWait + 10 s).
func WithHTTPClient(h *http.Client) Option {
	return func(c *Client) error {
		if h == nil {
			return invalid("WithHTTPClient", "the client must not be nil")
		}
		c.http = h
		return nil
	}
}

// WithTimeout bounds each call that is not a long poll (default 10 s); a lease
// request gets its wait on top.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) error {
		if d <= 0 {
			return invalid("WithTimeout", "must be positive, got %v", d)
		}
		c.timeout = d
		return nil
	}
}

// WithRetryAttempts sets how many times in all a call is tried when it may be tried
// again (default 4; 1: never again). Which calls may is fixed by their safety.
func WithRetryAttempts(n int) Option {
	return func(c *Client) error {
		if n < 1 {
			return invalid("WithRetryAttempts", "must be at least 1, got %d", n)
		}
		c.retries.attempts = n
		return nil
	}
}

// NewClient returns a client of the service at baseURL (e.g. "http://127.0.0.1:8000").
func NewClient(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, invalid("baseURL", "%v", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, invalid("baseURL", "want http(s)://host[:port][/prefix], got %q", baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, invalid("baseURL", "must not carry a query or fragment, got %q", baseURL)
	}
	c := &Client{
		base:    strings.TrimRight(u.String(), "/"),
		timeout: 10 * time.Second,
		retries: defaultRetries,
	}
	for _, opt := range opts {
		if err := opt(c); err != nil {
			return nil, err
		}
	}
	if c.http == nil {
		c.http = defaultHTTPClient()
	}
	return c, nil
}

func defaultHTTPClient() *http.Client {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	// A worker keeps a lease request, heartbeats and a report in flight at once; the
	// default of 2 idle connections per host would close and reopen them all the time.
	transport.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: transport}
}

// call is one API request and how it may be repeated.
type call struct {
	method, path string
	query        url.Values
	body         any
	resendBody   any           // the body of every try after the first (nil: body again)
	timeout      time.Duration // 0: the client's
	safe         bool          // may be re-sent after the request may have reached the service
	rule         *retryRule    // nil: the client's
}

// do sends the call, re-sending it while the rules allow, and decodes a success into out.
func (c *Client) do(ctx context.Context, k call, out any) error {
	var body []byte
	if k.body != nil {
		var err error
		if body, err = json.Marshal(k.body); err != nil {
			return &bodyError{err}
		}
	}
	rule := c.retries
	if k.rule != nil {
		rule = *k.rule
	}
	for attempt := 1; ; attempt++ {
		if attempt == 2 && k.resendBody != nil {
			var err error
			if body, err = json.Marshal(k.resendBody); err != nil {
				return &bodyError{err}
			}
		}
		err := c.once(ctx, k, body, out)
		if err == nil || attempt >= rule.attempts || !resendable(err, k.safe) || ctx.Err() != nil {
			return err
		}
		if !sleep(ctx, rule.pause(attempt-1)) {
			return err
		}
	}
}

func (c *Client) once(ctx context.Context, k call, body []byte, out any) error {
	timeout := k.timeout
	if timeout == 0 {
		timeout = c.timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Nothing reached the service unless the headers were written (a refused or failed
	// dial never writes them); then it may have, whatever happened next.
	var wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteHeaders: func() { wrote.Store(true) },
	})
	target := c.base + k.path
	if len(k.query) > 0 {
		target += "?" + k.query.Encode()
	}
	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, k.method, target, reader)
	if err != nil {
		return invalid("request", "%v", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "leaseq-go/"+Version)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return &TransportError{Method: k.method, Path: k.path, RequestSent: wrote.Load(), Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return &TransportError{Method: k.method, Path: k.path, RequestSent: true, Err: err}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return problemFrom(resp.StatusCode, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("leaseq: %s %s: unreadable answer: %w", k.method, k.path, err)
	}
	return nil
}

// bodyError: a request body encoding/json cannot encode (a NaN, a channel, …).
type bodyError struct{ err error }

func (e *bodyError) Error() string {
	return fmt.Sprintf("%v: the request body cannot be encoded as JSON: %v", ErrValidation, e.err)
}

func (e *bodyError) Is(target error) bool { return target == ErrValidation }

func (e *bodyError) Unwrap() error { return e.err }

func taskPath(id string, action string) string {
	path := "/v1/tasks/" + url.PathEscape(id)
	if action != "" {
		path += "/" + action
	}
	return path
}
