package leaseq

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// sdkKeyPrefix marks the idempotency keys the SDK makes, so operators can tell them
// from their own business keys.
const sdkKeyPrefix = "sdk-go:"

// newIdempotencyKey is 128 random bits: no two enqueue calls share one.
func newIdempotencyKey() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("leaseq: making an idempotency key: %w", err)
	}
	return sdkKeyPrefix + hex.EncodeToString(b[:]), nil
}
