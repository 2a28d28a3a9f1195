package leaseq

import "time"

// The automatic prefetch: hold leased tasks beyond the slots only while handlers are
// short. A prefetched task is leased and hidden from other workers until a slot frees.
// Behind short handlers that is a few milliseconds, and it hides a lease round trip per
// wave; behind long handlers it hides tasks for as long as a handler runs and saves
// nothing. So the worker, unless told a number, prefetches Concurrency tasks while its
// recent handlers are short and none otherwise (as the Python worker's sdk/prefetch.py).
const (
	shortHandler = 50 * time.Millisecond // a handler this quick is short: hiding a task this long is harmless
	shortOfLease = 20                    // … and no longer than this part of a lease (a waiting task stays fresh)
	paceDecay    = 0.1                   // how far each shorter run pulls the estimate down
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

// prefetch is how many tasks to hold beyond the slots: concurrency while handlers are short.
func (p *handlerPace) prefetch(concurrency int, lease time.Duration) int {
	short := shortHandler
	if l := lease / shortOfLease; l < short {
		short = l
	}
	if p.known && p.estimate <= short {
		return concurrency
	}
	return 0
}
