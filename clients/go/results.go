package leaseq

import (
	"encoding/json"
	"fmt"
)

// encodeResult is a handler's value as the task's result (nil: none).
func encodeResult(value any) (json.RawMessage, error) {
	if value == nil {
		return nil, nil
	}
	if raw, ok := value.(json.RawMessage); ok {
		if !json.Valid(raw) {
			return nil, fmt.Errorf("the handler's result is not valid JSON")
		}
		return raw, nil
	}
	data, err := json.Marshal(value)
	if err != nil {
		return nil, fmt.Errorf("the handler's result cannot be encoded as JSON: %w", err)
	}
	return data, nil
}
