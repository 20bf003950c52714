// Package counter is what the console's message counter says about a text:
// the encoding, length and billed segments the API will compute when the
// text is sent. It calls smpp/coding exactly as the API does
// (coding.Prepare with the 8-bit reference UDH, smart encoding on or off),
// and it is compiled to
// WebAssembly for the page (console/wasm), so the counter and the engine
// cannot disagree.
package counter

import (
	"errors"
	"strings"

	"github.com/switchboard-sms/switchboard/smpp/coding"
)

// MaxSegments is the most segments the API accepts for one message; a test
// checks it against inbox.MaxSegments (the inbox enforces it).
const MaxSegments = 10

// Result is what Count reports, for the text as it would be sent (smart
// encoding applied). Encoding is the API's name (gsm7, ucs2).
type Result struct {
	// Text is the text as sent: the input, or its substitution when smart
	// encoding applies.
	Text     string
	Encoding string
	// Units are septets (GSM-7, extension characters count 2) or UTF-16
	// code units (UCS-2, characters beyond the BMP count 2).
	Units int
	// Chars are Unicode code points.
	Chars int
	// Segments are the parts the carrier bills (1 for an empty text).
	Segments int
	// Free is how many units the last segment has left.
	Free int
	// PerSegment is the capacity of a segment of this text: a single
	// message's (160, 70) when it fits one, else a part's (153, 67).
	PerSegment int
	// TooLong says the API refuses the text (more than MaxSegments).
	TooLong bool
	// Err is set when the text cannot be encoded at all; the API answers
	// such text 422 invalid_text.
	Err string
	// SmartApplied says smart encoding replaced look-alikes (Replaced of
	// them), saving SegmentsSaved segments (docs/encoding.md).
	SmartApplied  bool
	Replaced      int
	SegmentsSaved int
}

// Count reports on text as the API computes it for POST /v1/messages with
// smart encoding on or off.
func Count(text string, smart bool) Result {
	p, err := coding.Prepare(text, coding.UDH8, smart)
	info, enc := p.Info, p.Encoding
	r := Result{Text: p.Text, Encoding: strings.ToLower(enc.String())}
	if err != nil && !errors.Is(err, coding.ErrTooManyParts) {
		r.Err = err.Error()
		return r
	}
	r.SmartApplied, r.Replaced, r.SegmentsSaved = p.Replaced > 0, p.Replaced, p.SegmentsSaved
	single, part := coding.Capacity(enc, coding.UDH8)
	r.Units, r.Chars, r.Segments, r.Free = info.Units, info.Chars, info.Segments, info.Free
	r.PerSegment = single
	if info.Segments > 1 {
		r.PerSegment = part
	}
	r.TooLong = info.Segments > MaxSegments
	return r
}
