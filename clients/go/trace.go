package leaseq

import (
	"context"
	"strings"
)

// W3C trace context: a producer's traceparent travels in the task's labels to the
// handler's ctx. (The standard library has no tracer; bridge to yours with these.)

type traceKey struct{}

// WithTraceParent returns ctx carrying a W3C traceparent; Enqueue puts it in the
// "traceparent" label of tasks that have none. An invalid value is ignored.
func WithTraceParent(ctx context.Context, traceparent string) context.Context {
	if !validTraceParent(traceparent) {
		return ctx
	}
	return context.WithValue(ctx, traceKey{}, traceparent)
}

// TraceParent answers the traceparent ctx carries: in a handler, the task's
// "traceparent" label when it is a valid one.
func TraceParent(ctx context.Context) (string, bool) {
	tp, ok := ctx.Value(traceKey{}).(string)
	return tp, ok
}

// validTraceParent: version-traceid-parentid-flags, lower-case hex, ids not all zero.
func validTraceParent(tp string) bool {
	parts := strings.Split(tp, "-")
	if len(parts) < 4 || len(parts[0]) != 2 || parts[0] == "ff" {
		return false
	}
	if parts[0] == "00" && len(parts) != 4 {
		return false
	}
	sizes := []int{2, 32, 16, 2}
	for i, size := range sizes {
		if len(parts[i]) != size || !isLowerHex(parts[i]) {
			return false
		}
	}
	return strings.Trim(parts[1], "0") != "" && strings.Trim(parts[2], "0") != ""
}

func isLowerHex(s string) bool {
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}
