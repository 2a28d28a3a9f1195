package leaseq

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"
)

// RetryError asks for the task to be tried again after Delay (0: at once). Make one
// with Retry; wrap it to say why: fmt.Errorf("smtp 451: %w", leaseq.Retry(time.Minute)).
type RetryError struct {
	Delay time.Duration
}

// Retry returns an error that, returned by a handler, retries the task after delay
// (instead of the task's backoff policy). The attempt counts; with the attempts used
// up the task goes to the dead-letter list.
func Retry(delay time.Duration) error { return &RetryError{Delay: delay} }

func (e *RetryError) Error() string { return fmt.Sprintf("retry requested (after %v)", e.Delay) }

// FatalError sends the task to the dead-letter list at once. Make one with Fatal.
type FatalError struct {
	Err error
}

// Fatal returns an error that, returned by a handler, fails the task for good: it goes
// to the dead-letter list with err's text, whatever attempts are left.
func Fatal(err error) error { return &FatalError{Err: err} }

func (e *FatalError) Error() string {
	if e.Err == nil {
		return "fatal error"
	}
	return e.Err.Error()
}

func (e *FatalError) Unwrap() error { return e.Err }

// PanicError is a handler's recovered panic; the task is retried under its policy
// with the panic's value and stack as its error.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v\n\n%s", e.Value, e.Stack) }

const maxErrorChars = 4000 // the most of an error's text a task keeps

// outcomeOf turns what a handler returned into the report: (v, nil) completes with v;
// Fatal fails; Retry, a panic and any other error retry. The outermost Retry or Fatal
// in the error's chain decides.
func outcomeOf(taskID, token string, value any, err error) outcome {
	o := outcome{TaskID: taskID, Token: token}
	if err == nil {
		result, encodeErr := encodeResult(value)
		if encodeErr == nil {
			o.Outcome, o.Result = "complete", result
			return o
		}
		err = encodeErr
	}
	o.Error = errorText(err)
	for e := err; e != nil; e = errors.Unwrap(e) {
		switch found := e.(type) {
		case *FatalError:
			o.Outcome = "fail"
			return o
		case *RetryError:
			o.Outcome = "retry"
			o.DelaySeconds = floatSeconds(found.Delay)
			return o
		}
	}
	o.Outcome = "retry"
	return o
}

// errorText is storable text: valid UTF-8 without NUL, at most maxErrorChars.
func errorText(err error) string {
	text := strings.ToValidUTF8(err.Error(), "\uFFFD")
	text = strings.ReplaceAll(text, "\x00", "")
	if text == "" {
		text = fmt.Sprintf("%T", err)
	}
	if runes := []rune(text); len(runes) > maxErrorChars {
		text = string(runes[:maxErrorChars-1]) + "…"
	}
	return text
}

func panicError(value any) error {
	return &PanicError{Value: value, Stack: debug.Stack()}
}
