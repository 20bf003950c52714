package console_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/console/internal/wasmbuild"
)

// TestConsoleWasmUpToDate fails when static/counter.wasm is not what `go generate
// ./console` makes from the sources now: the counter would drift from the
// engine. With any toolchain it checks the sources against the stamp and
// the stamp against the wasm; with the stamp's toolchain it also rebuilds
// the wasm and compares it byte for byte, and compares wasm_exec.js with
// the toolchain's.
func TestConsoleWasmUpToDate(t *testing.T) {
	t.Parallel()
	const fix = "run `go generate ./console` and commit console/static/counter.wasm, console/static/wasm_exec.js and console/wasm/stamp.txt"
	gocmd, err := wasmbuild.GoCommand()
	if err != nil {
		t.Skipf("%v: the wasm cannot be checked", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	st, err := wasmbuild.ReadStamp(wasmbuild.StampFile)
	if err != nil {
		t.Fatalf("%v: %s", err, fix)
	}
	inputs, err := wasmbuild.InputsHash(ctx, gocmd, ".")
	if err != nil {
		t.Fatal(err)
	}
	if inputs != st.Inputs {
		t.Fatalf("counter.wasm is stale: its sources (console/wasm, console/internal/counter, smpp/coding) changed since it was built: %s", fix)
	}
	if h, err := wasmbuild.FileHash(wasmbuild.WasmFile); err != nil || h != st.Wasm {
		t.Fatalf("counter.wasm is not the build the stamp records (%v): %s", err, fix)
	}
	version, err := wasmbuild.GoVersion(ctx, gocmd)
	if err != nil {
		t.Fatal(err)
	}
	if version != st.GoVersion {
		t.Logf("counter.wasm was built with %s, this is %s: the sources match; the byte comparison needs %s", st.GoVersion, version, st.GoVersion)
		return
	}
	out := filepath.Join(t.TempDir(), "counter.wasm")
	if err := wasmbuild.Build(ctx, gocmd, ".", out); err != nil {
		t.Fatal(err)
	}
	built, _ := os.ReadFile(out)
	committed, _ := os.ReadFile(wasmbuild.WasmFile)
	if !bytes.Equal(built, committed) {
		t.Fatalf("counter.wasm differs from a fresh build (%d bytes, committed %d): %s", len(built), len(committed), fix)
	}
	js, err := wasmbuild.ExecJS(ctx, gocmd)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(js)
	got, _ := os.ReadFile(wasmbuild.ExecJSFile)
	if !bytes.Equal(want, got) {
		t.Fatalf("wasm_exec.js is not %s's (%s): %s", version, js, fix)
	}
}
