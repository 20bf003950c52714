package inbox

import (
	"math/big"
	"strconv"
	"strings"
)

// IDFormat says how a carrier writes its message ids: in submit_sm_resp and,
// separately, in its delivery receipts (many carriers answer the submit in
// hex and report receipts in decimal). It comes from the carrier's
// configuration.
type IDFormat int

// Message id formats.
const (
	IDOpaque  IDFormat = iota // compared as text, trimmed and lower-cased
	IDDecimal                 // a decimal number; leading zeros do not matter
	IDHex                     // a hexadecimal number, any case, optional "0x"
)

// String returns the format's configuration name.
func (f IDFormat) String() string {
	switch f {
	case IDDecimal:
		return "decimal"
	case IDHex:
		return "hex"
	}
	return "opaque"
}

// ParseIDFormat reads a configuration name: "opaque" (or ""), "decimal", "hex".
func ParseIDFormat(s string) (IDFormat, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "opaque", "text":
		return IDOpaque, true
	case "decimal", "dec":
		return IDDecimal, true
	case "hex", "hexadecimal":
		return IDHex, true
	}
	return IDOpaque, false
}

// CanonicalMessageID turns a carrier message id written in format f into the
// key the inbox matches submit results and receipts on. Numeric formats map
// to the value in decimal, so "00B8BE19" (hex) and "12107289" (decimal) give
// the same key; opaque ids are trimmed and lower-cased. A numeric id that
// does not parse falls back to the opaque form, so the same malformed text
// on both sides still matches. Surrounding whitespace and NULs are ignored.
func CanonicalMessageID(f IDFormat, id string) string {
	id = strings.Trim(id, " \t\r\n\x00")
	switch f {
	case IDDecimal:
		if k, ok := numericKey(id, 10); ok {
			return k
		}
	case IDHex:
		h := id
		if len(h) > 2 && h[0] == '0' && (h[1] == 'x' || h[1] == 'X') {
			h = h[2:]
		}
		if k, ok := numericKey(h, 16); ok {
			return k
		}
	}
	return strings.ToLower(id)
}

// numericKey returns the decimal form of s read in base, without leading zeros.
func numericKey(s string, base int) (string, bool) {
	if s == "" {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= '0' && c <= '9' || base == 16 && (c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F')
		if !ok {
			return "", false
		}
	}
	if v, err := strconv.ParseUint(s, base, 64); err == nil {
		return strconv.FormatUint(v, 10), true
	}
	var n big.Int
	if _, ok := n.SetString(s, base); !ok {
		return "", false
	}
	return n.String(), true
}
