package leaseq

import "time"

// The automatic prefetch: hold leased tasks beyond the slots only while handlers are
// short. A prefetched task is leased and hidden from other workers until a slot frees.
// Behind short handlers that is a few milliseconds, and it hides a lease round trip per
// wave; behind long handlers it hides tasks for as long as a handler runs and saves
// nothing. So the worker, unless told a number, prefetches while its recent handlers are
// short and not otherwise, as many as its slots start within the short time, up to a
// ceiling (as the Python worker's sdk/prefetch.py; docs/adr/0038 and 0039).
const (
	shortHandler = 50 * time.Millisecond // a handler this quick is short: hiding a task this long is harmless
	shortOfLease = 20                    // … and no longer than this part of a lease (a waiting task stays fresh)
	paceDecay    = 0.1                   // how far each shorter run pulls the estimate down
	mostPerSlot  = 4                     // the prefetch is at most this many tasks per slot …
	prefetchWave = 100                   // … and at most this many (or Concurrency, if more): larger waves gain nothing
)

// handlerPace is a cautious estimate of how long this worker's handlers run: any longer
// run raises it at once; shorter runs lower it a tenth of the way each. One slow run
// turns the automatic prefetch off at once; it comes back after a few dozen short ones.
// Not safe for concurrent use: the run guards it with its mutex.
type handlerPace struct {
	estimate time.Duration
	known    bool // a handler has returned
}

// ran counts a handler that returned after running d.
func (p *handlerPace) ran(d time.Duration) {
	if !p.known || d >= p.estimate {
		p.estimate, p.known = d, true
		return
	}
	p.estimate += time.Duration(float64(d-p.estimate) * paceDecay)
}

// prefetch is how many tasks to hold beyond the slots: none unless handlers are short;
// then as many as the slots start within the short time (at least concurrency), up to
// max(concurrency, min(4 × concurrency, 100)).
func (p *handlerPace) prefetch(concurrency int, lease time.Duration) int {
	short := shortHandler
	if l := lease / shortOfLease; l < short {
		short = l
	}
	if !p.known || p.estimate > short {
		return 0
	}
	ceiling := mostPerSlot * concurrency
	if ceiling > prefetchWave {
		ceiling = prefetchWave
	}
	if ceiling < concurrency {
		ceiling = concurrency
	}
	if p.estimate <= 0 {
		return ceiling
	}
	// concurrency slots each run short / estimate handlers in the short time.
	n := int(int64(concurrency) * int64(short) / int64(p.estimate))
	if n > ceiling {
		n = ceiling
	}
	if n < concurrency {
		n = concurrency
	}
	return n
}
