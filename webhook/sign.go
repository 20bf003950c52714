package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"strconv"
	"strings"
	"sync"
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
	return appendSignature(dst, hmac.New(sha256.New, k), id, timestamp, body)
}

// appendSignature appends "v1," and the signature of "id.timestamp.body"
// by m, a fresh (or Reset) HMAC-SHA256.
func appendSignature(dst []byte, m hash.Hash, id string, timestamp int64, body []byte) []byte {
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

// Signer makes the webhook-signature header with a set of keys, as
// Signature does, reusing each key's HMAC state (the key's padded blocks
// are hashed once, not at every delivery). It is safe for concurrent use.
type Signer struct {
	keys []*signingKey
}

type signingKey struct {
	pool sync.Pool // of hash.Hash: HMAC-SHA256 under the key
}

// NewSigner returns a Signer for keys, the current one first.
func NewSigner(keys []Key) *Signer {
	s := &Signer{keys: make([]*signingKey, len(keys))}
	for i, k := range keys {
		k := append(Key(nil), k...)
		s.keys[i] = &signingKey{pool: sync.Pool{New: func() any { return hmac.New(sha256.New, k) }}}
	}
	return s
}

// Signature returns the webhook-signature header for a delivery, the same
// as Signature(keys, id, timestamp, body).
func (s *Signer) Signature(id string, timestamp int64, body []byte) string {
	return string(s.AppendSignature(make([]byte, 0, len(s.keys)*48), id, timestamp, body))
}

// AppendSignature appends the webhook-signature header's value to b, as
// Signature returns it.
func (s *Signer) AppendSignature(b []byte, id string, timestamp int64, body []byte) []byte {
	for i, k := range s.keys {
		if i > 0 {
			b = append(b, ' ')
		}
		m := k.pool.Get().(hash.Hash)
		m.Reset()
		b = appendSignature(b, m, id, timestamp, body)
		k.pool.Put(m)
	}
	return b
}
