package leaseq

import (
	"context"
	"errors"
	"math/rand"
	"sync"
	"time"
)

// Which calls may be sent again after the request may have reached the service (a
// reset connection, a timeout, a 5xx answer); the rules all SDKs follow (see
// docs/adr/0025-go-sdk.md). A request that certainly never left (connection refused)
// is sent again whatever the call. Switching a call is a change of its line here.
const (
	// Every task carries an idempotency key (the SDK makes one when none is given), so
	// the identical body re-sent answers with the first tasks.
	resendEnqueue = true
	// Reads change nothing.
	resendReads = true
	// A lease request carries a request_id: its re-send answers with the grants the
	// first one got, and claims nothing more. The results riding on it go again with it
	// (each applied one is answered with its first answer, as a report re-sent is).
	resendLease = true
	// Extending a live lease twice is extending it once, later; a stale token is refused.
	resendHeartbeat = true
	// The identical report re-sent answers as the first one did (the service remembers
	// the report that ended a task's newest lease).
	resendReport  = true
	resendRelease = true
	// Limits are replaced whole: the same limits again change nothing.
	resendSetLimits = true
	// A repeat of an applied cancel or requeue answers invalid_transition.
	resendCancel  = false
	resendRequeue = false
)

// retryRule: `attempts` tries in all; the pause before try n+1 is uniform in
// [0, min(max, base·2ⁿ)] ("full jitter").
type retryRule struct {
	attempts  int
	base, max time.Duration
}

var (
	defaultRetries = retryRule{attempts: 4, base: 100 * time.Millisecond, max: 2 * time.Second}
	reportRetries  = retryRule{attempts: 5, base: 100 * time.Millisecond, max: 2 * time.Second}
	// Pauses between lease requests after errors (never gives up: attempts unused).
	claimBackoff = retryRule{base: 50 * time.Millisecond, max: 5 * time.Second}
)

func (r retryRule) pause(retryNumber int) time.Duration {
	if retryNumber > 16 {
		retryNumber = 16
	}
	capped := r.base << uint(retryNumber)
	if capped > r.max || capped <= 0 {
		capped = r.max
	}
	return time.Duration(jitter() * float64(capped))
}

// resendable: whether a failed call may be sent again.
func resendable(err error, safe bool) bool {
	var te *TransportError
	if errors.As(err, &te) {
		return safe || !te.RequestSent
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return safe && ae.Status >= 500
	}
	return false
}

var (
	jitterMu   sync.Mutex
	jitterRand = rand.New(rand.NewSource(time.Now().UnixNano()))
)

// jitter is a draw in [0, 1).
func jitter() float64 {
	jitterMu.Lock()
	defer jitterMu.Unlock()
	return jitterRand.Float64()
}

// sleep waits d or until ctx is done (false then).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
