//go:build js && wasm

// Command wasm is the console's message counter: package counter (the
// engine's own smpp/coding, as the API bills) compiled to WebAssembly. It
// leaves one function behind, switchboardCount(text), which returns
// {encoding, units, chars, segments, free, per_segment, too_long,
// max_segments, error}. Built by `go generate ./console` into
// console/static/counter.wasm; a test fails when that file is stale.
package main

import (
	"syscall/js"

	"github.com/switchboard-sms/switchboard/console/internal/counter"
)

func main() {
	js.Global().Set("switchboardCount", js.FuncOf(func(_ js.Value, args []js.Value) any {
		if len(args) != 1 || args[0].Type() != js.TypeString {
			return js.Null()
		}
		r := counter.Count(args[0].String())
		return map[string]any{
			"encoding": r.Encoding, "units": r.Units, "chars": r.Chars, "segments": r.Segments,
			"free": r.Free, "per_segment": r.PerSegment, "too_long": r.TooLong,
			"max_segments": counter.MaxSegments, "error": r.Err,
		}
	}))
	select {} // keep the function alive
}
