package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
)

// Standard Webhooks headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// secretPrefix starts the secrets Standard Webhooks libraries read.
const secretPrefix = "whsec_"

// Key is a decoded signing secret.
type Key []byte

// ParseKey decodes a secret written as whsec_<base64> (or bare base64).
func ParseKey(secret string) (Key, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, secretPrefix))
	if err != nil {
		return nil, errors.New("webhook: secret is not base64")
	}
	if len(k) == 0 {
		return nil, errors.New("webhook: empty secret")
	}
	return k, nil
}

// AppendSignature appends "v1," and the base64 HMAC-SHA256 of
// "id.timestamp.body" under k to dst.
func (k Key) AppendSignature(dst []byte, id string, timestamp int64, body []byte) []byte {
	m := hmac.New(sha256.New, k)
	var ts [20]byte
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write(strconv.AppendInt(ts[:0], timestamp, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	var sum [sha256.Size]byte
	dst = append(dst, "v1,"...)
	return base64.StdEncoding.AppendEncode(dst, m.Sum(sum[:0]))
}

// Signature returns the webhook-signature header for a delivery: one
// signature per key, separated by spaces (the current secret first, then
// one a rotation keeps valid).
func Signature(keys []Key, id string, timestamp int64, body []byte) string {
	b := make([]byte, 0, len(keys)*48)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ' ')
		}
		b = k.AppendSignature(b, id, timestamp, body)
	}
	return string(b)
}
