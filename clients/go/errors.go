package leaseq

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Sentinels for errors.Is. An *APIError matches the sentinels of its problem type (see
// docs/api.md for the codes); a *TransportError matches ErrUnavailable.
var (
	ErrLeaseLost         = errors.New("leaseq: lease lost")
	ErrLeaseExpired      = errors.New("leaseq: lease expired")
	ErrTaskCancelled     = errors.New("leaseq: task cancelled")
	ErrLeaseConflict     = errors.New("leaseq: lease conflict") // any of the three above
	ErrTaskNotFound      = errors.New("leaseq: task not found")
	ErrInvalidTransition = errors.New("leaseq: invalid transition")
	ErrUnauthorized      = errors.New("leaseq: unauthorized")
	ErrForbidden         = errors.New("leaseq: forbidden")
	ErrValidation        = errors.New("leaseq: validation error")
	ErrPayloadTooLarge   = errors.New("leaseq: payload too large") // also ErrValidation
	ErrUnavailable       = errors.New("leaseq: service unavailable")
)

// The one table of this boundary: problem type → sentinels.
var sentinelsByType = map[string][]error{
	"lease_lost":         {ErrLeaseLost, ErrLeaseConflict},
	"lease_expired":      {ErrLeaseExpired, ErrLeaseConflict},
	"task_cancelled":     {ErrTaskCancelled, ErrLeaseConflict},
	"task_not_found":     {ErrTaskNotFound},
	"invalid_transition": {ErrInvalidTransition},
	"unauthorized":       {ErrUnauthorized},
	"forbidden":          {ErrForbidden},
	"validation_error":   {ErrValidation},
	"payload_too_large":  {ErrPayloadTooLarge, ErrValidation},
	"store_unavailable":  {ErrUnavailable},
}

// For answers without a known type (a proxy's error page, say).
var sentinelsByStatus = map[int][]error{
	http.StatusUnauthorized:          {ErrUnauthorized},
	http.StatusForbidden:             {ErrForbidden},
	http.StatusRequestEntityTooLarge: {ErrPayloadTooLarge, ErrValidation},
	http.StatusUnprocessableEntity:   {ErrValidation},
}

// FieldError names one refused field of a validation_error.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// APIError is an answer of the service that is not a success: its problem+json body.
// Type is the stable code ("lease_lost", "validation_error", …); empty when the
// answer was not problem+json.
type APIError struct {
	Status int
	Type   string
	Title  string
	Detail string
	TaskID string       // for the task calls' refusals
	Errors []FieldError // for validation_error
}

func (e *APIError) Error() string {
	code := e.Type
	if code == "" {
		code = "error"
	}
	msg := fmt.Sprintf("leaseq: %s (%d)", code, e.Status)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	for _, f := range e.Errors {
		if !strings.Contains(e.Detail, f.Message) {
			msg += fmt.Sprintf("; %s: %s", f.Field, f.Message)
		}
	}
	return msg
}

// Is reports whether target is one of the sentinels of this error's type.
func (e *APIError) Is(target error) bool {
	for _, s := range e.sentinels() {
		if s == target {
			return true
		}
	}
	return false
}

func (e *APIError) sentinels() []error {
	if found, ok := sentinelsByType[e.Type]; ok {
		return found
	}
	if found, ok := sentinelsByStatus[e.Status]; ok {
		return found
	}
	if e.Status >= 500 {
		return []error{ErrUnavailable}
	}
	return nil
}

type problemBody struct {
	Status int          `json:"status"`
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Detail string       `json:"detail"`
	TaskID string       `json:"task_id"`
	Errors []FieldError `json:"errors"`
}

// problemFrom reads an error answer; a body that is not a problem keeps its status and
// the start of its text.
func problemFrom(status int, body []byte) *APIError {
	var p problemBody
	if err := json.Unmarshal(body, &p); err != nil || p.Type == "" {
		detail := strings.TrimSpace(string(body))
		if len(detail) > 500 {
			detail = detail[:500]
		}
		return &APIError{Status: status, Title: http.StatusText(status), Detail: detail}
	}
	return &APIError{
		Status: status, Type: p.Type, Title: p.Title, Detail: p.Detail,
		TaskID: p.TaskID, Errors: p.Errors,
	}
}

// TransportError is a call that got no answer: connection refused or reset, timed out.
// RequestSent is false when the request certainly never reached the service.
type TransportError struct {
	Method, Path string
	RequestSent  bool
	Err          error
}

func (e *TransportError) Error() string {
	reached := "the request may have reached the service"
	if !e.RequestSent {
		reached = "the request was not sent"
	}
	return fmt.Sprintf("leaseq: %s %s: no answer (%s): %v", e.Method, e.Path, reached, e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }

// Is makes a call with no answer match ErrUnavailable.
func (e *TransportError) Is(target error) bool { return target == ErrUnavailable }

// invalid is the SDK's own refusal of bad input, before anything is sent.
func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrValidation, field, fmt.Sprintf(format, args...))
}
