// Package wasmbuild builds the console's counter (console/wasm) to
// WebAssembly and checks that the committed build is current. `go generate
// ./console` runs it through ./gen; the console's tests use it to rebuild
// and compare.
//
// The stamp file (console/wasm/stamp.txt) records the Go version of the
// build, a hash of every module source file the wasm is built from, and a
// hash of the wasm. A test recomputes the source hash with any toolchain,
// and, with the toolchain of the stamp, rebuilds the wasm and compares it
// byte for byte (builds with -trimpath are reproducible).
package wasmbuild

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Paths relative to the console directory.
const (
	MainPkg    = "./wasm"              // the wasm's main package
	WasmFile   = "static/counter.wasm" // the build
	ExecJSFile = "static/wasm_exec.js" // Go's JavaScript support file, copied from GOROOT
	StampFile  = "wasm/stamp.txt"      // what the build was made from
	module     = "github.com/switchboard-sms/switchboard"
)

// Flags are the build flags: reproducible and without debug data.
var Flags = []string{"-trimpath", "-buildvcs=false", "-ldflags=-s -w"}

// Stamp is what the stamp file records.
type Stamp struct {
	GoVersion string // go env GOVERSION of the build
	Inputs    string // InputsHash at the build
	Wasm      string // sha256 of the wasm
}

// GoCommand returns the go command to build with: go on PATH.
func GoCommand() (string, error) {
	p, err := exec.LookPath("go")
	if err != nil {
		return "", errors.New("wasmbuild: the go command is not on PATH")
	}
	return p, nil
}

func goEnv(ctx context.Context, gocmd, dir string, env []string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, gocmd, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("wasmbuild: go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// wasmEnv is the environment of every go command that looks at the wasm build.
var wasmEnv = []string{"GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0", "GOFLAGS="}

// GoVersion returns the toolchain's version, such as go1.26.0.
func GoVersion(ctx context.Context, gocmd string) (string, error) {
	out, err := goEnv(ctx, gocmd, "", nil, "env", "GOVERSION")
	return strings.TrimSpace(string(out)), err
}

// Build builds the wasm from consoleDir into out.
func Build(ctx context.Context, gocmd, consoleDir, out string) error {
	args := append(append([]string{"build"}, Flags...), "-o", out, MainPkg)
	_, err := goEnv(ctx, gocmd, consoleDir, wasmEnv, args...)
	return err
}

// InputsHash hashes every Go source file of the module's packages the wasm
// is built from (its main package and what it imports from the module), by
// path relative to the module and content.
func InputsHash(ctx context.Context, gocmd, consoleDir string) (string, error) {
	out, err := goEnv(ctx, gocmd, consoleDir, wasmEnv, "list", "-deps", "-json=ImportPath,Dir,GoFiles,EmbedFiles,Module", MainPkg)
	if err != nil {
		return "", err
	}
	type pkg struct {
		ImportPath string
		Dir        string
		GoFiles    []string
		EmbedFiles []string
		Module     *struct{ Path, Dir string }
	}
	var files []string
	var root string
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			return "", fmt.Errorf("wasmbuild: go list: %v", err)
		}
		if p.Module == nil || p.Module.Path != module {
			continue
		}
		root = p.Module.Dir
		for _, f := range append(p.GoFiles, p.EmbedFiles...) {
			files = append(files, filepath.Join(p.Dir, f))
		}
	}
	if len(files) == 0 {
		return "", errors.New("wasmbuild: go list found no source files of the module")
	}
	sort.Strings(files)
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		rel, _ := filepath.Rel(root, f)
		fmt.Fprintf(h, "%s %d\n", filepath.ToSlash(rel), len(b))
		h.Write(b)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// ExecJS returns the path of the toolchain's wasm_exec.js (lib/wasm since
// Go 1.24, misc/wasm before).
func ExecJS(ctx context.Context, gocmd string) (string, error) {
	out, err := goEnv(ctx, gocmd, "", nil, "env", "GOROOT")
	if err != nil {
		return "", err
	}
	root := strings.TrimSpace(string(out))
	for _, p := range []string{filepath.Join(root, "lib", "wasm", "wasm_exec.js"), filepath.Join(root, "misc", "wasm", "wasm_exec.js")} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("wasmbuild: no wasm_exec.js under %s", root)
}

// FileHash returns the sha256 of a file's content.
func FileHash(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// Generate builds the wasm into consoleDir/static, copies wasm_exec.js
// beside it and writes the stamp.
func Generate(ctx context.Context, consoleDir string) error {
	gocmd, err := GoCommand()
	if err != nil {
		return err
	}
	st := Stamp{}
	if st.GoVersion, err = GoVersion(ctx, gocmd); err != nil {
		return err
	}
	if st.Inputs, err = InputsHash(ctx, gocmd, consoleDir); err != nil {
		return err
	}
	wasm := filepath.Join(consoleDir, WasmFile)
	if err := Build(ctx, gocmd, consoleDir, wasm); err != nil {
		return err
	}
	if err := os.Chmod(wasm, 0o644); err != nil {
		return err
	}
	if st.Wasm, err = FileHash(wasm); err != nil {
		return err
	}
	js, err := ExecJS(ctx, gocmd)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(js)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(consoleDir, ExecJSFile), b, 0o644); err != nil {
		return err
	}
	return WriteStamp(filepath.Join(consoleDir, StampFile), st)
}

// WriteStamp writes a stamp file.
func WriteStamp(path string, st Stamp) error {
	s := "# Written by `go generate ./console` (console/internal/wasmbuild). Do not edit.\n" +
		"go " + st.GoVersion + "\ninputs " + st.Inputs + "\nwasm " + st.Wasm + "\n"
	return os.WriteFile(path, []byte(s), 0o644)
}

// ReadStamp reads a stamp file.
func ReadStamp(path string) (Stamp, error) {
	f, err := os.Open(path)
	if err != nil {
		return Stamp{}, err
	}
	defer f.Close()
	var st Stamp
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		switch k {
		case "go":
			st.GoVersion = v
		case "inputs":
			st.Inputs = v
		case "wasm":
			st.Wasm = v
		}
	}
	if st.GoVersion == "" || st.Inputs == "" || st.Wasm == "" {
		return st, fmt.Errorf("wasmbuild: %s is incomplete", path)
	}
	return st, sc.Err()
}
