//go:build js && wasm

// Command wasm is the console's message counter: package counter (the
// engine's own smpp/coding, as the API bills) compiled to WebAssembly. It
// leaves one function behind, switchboardCount(text, smart), which returns
// {encoding, units, chars, segments, free, per_segment, too_long,
// max_segments, error, text, smart_applied, replaced, segments_saved} for
// the text as the API would send it (smart: smart encoding on; absent:
// off). Built by `go generate ./console` into
// console/static/counter.wasm; a test fails when that file is stale.
package main

import (
	"syscall/js"

	"github.com/switchboard-sms/switchboard/console/internal/counter"
)

func main() {
	js.Global().Set("switchboardCount", js.FuncOf(func(_ js.Value, args []js.Value) any {
		if len(args) < 1 || len(args) > 2 || args[0].Type() != js.TypeString {
			return js.Null()
		}
		smart := len(args) == 2 && args[1].Type() == js.TypeBoolean && args[1].Bool()
		r := counter.Count(args[0].String(), smart)
		return map[string]any{
			"encoding": r.Encoding, "units": r.Units, "chars": r.Chars, "segments": r.Segments,
			"free": r.Free, "per_segment": r.PerSegment, "too_long": r.TooLong,
			"max_segments": counter.MaxSegments, "error": r.Err,
			"text": r.Text, "smart_applied": r.SmartApplied, "replaced": r.Replaced, "segments_saved": r.SegmentsSaved,
		}
	}))
	select {} // keep the function alive
}
