package leaseq

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strconv"
)

// randomID is 16 random bytes as 22 characters of base64url: no two calls share one.
func randomID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("leaseq: reading random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// sdkKey is the idempotency key the SDK gives the task at index of a batch that carries
// none: "sdk:" + one random part per call + ":" + index, as every leaseq SDK makes it.
func sdkKey(random string, index int) string {
	return "sdk:" + random + ":" + strconv.Itoa(index)
}
