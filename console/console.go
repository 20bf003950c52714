// Package console is Switchboard's web console: the pages a workspace and
// an operator use in a browser, served by the engine itself under
// /console/ and working only through the HTTP API (package api).
//
// The pages are static files embedded in the binary (static/): HTML, CSS
// and JavaScript modules with no framework and no build step, plus
// counter.wasm, the engine's own segmentation (smpp/coding, through
// internal/counter) compiled to WebAssembly so the message counter
// matches what the API bills, and Go's wasm_exec.js that runs it. The
// wasm is generated and committed:
//
//	go generate ./console
//
// and TestConsoleWasmUpToDate fails when it is stale. Nothing is fetched from
// another origin; the Content-Security-Policy says so.
//
// Tenant views (a workspace token): Settings → SMS, Settings → Webhooks
// (endpoints, the signing secret shown once after create and rotate, test
// events, the delivery log with replay), Settings → Usage (GET /v1/usage
// for this month, last month, the last 30 days or a custom span, in UTC
// days: totals, a bar per day or month, per number, per final status, and
// the same report downloaded as CSV), Compose (now or at a send time, with
// a validity), Messages (threads with live updates read from GET
// /v1/events; the reply box schedules with the same control as Compose;
// scheduled and queued messages can be canceled). Operator views
// (the operator token): Binds (polled every second) and Numbers (custom
// number requests, unrouted inbound, the number self-test). Signing in is
// pasting a token; it is kept in the tab's sessionStorage.
package console

//go:generate go run ./internal/wasmbuild/gen

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

//go:embed static
var static embed.FS

// Prefix is where Handler expects to be mounted.
const Prefix = "/console/"

// CSP is the Content-Security-Policy of every answer: scripts, styles,
// images and connections from this origin only; WebAssembly may be
// compiled (the counter), nothing may be evaluated or framed.
const CSP = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// types are the content types of the files the console has.
var types = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".wasm": "application/wasm",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".json": "application/json",
	".txt":  "text/plain; charset=utf-8",
}

// asset is one file, ready to serve.
type asset struct {
	body, gz []byte // gz is nil when compressing does not pay
	ctype    string
	etag     string // quoted; the gzip variant appends -gz
}

var (
	loadOnce sync.Once
	assets   map[string]*asset
)

// load reads the embedded files once and compresses those that gain.
func load() {
	assets = map[string]*asset{}
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embed directive guarantees the directory
	}
	fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		ct, ok := types[path.Ext(p)]
		if !ok {
			ct = "application/octet-stream"
		}
		sum := sha256.Sum256(b)
		a := &asset{body: b, ctype: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		if !strings.HasSuffix(p, ".png") && len(b) > 512 {
			var buf bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
			zw.Write(b)
			zw.Close()
			if buf.Len() < len(b)*9/10 {
				a.gz = buf.Bytes()
			}
		}
		assets[p] = a
		return nil
	})
}

// Handler serves the console under /console/ (and redirects /console
// there). Files are answered with their content type, an ETag and
// Cache-Control: no-cache (the browser revalidates, a 304 costs nothing),
// gzip when the client takes it, and the security headers. A path without
// a file extension that names no file is a page of the console's own
// router and gets index.html; a missing file is 404. Only GET and HEAD.
func Handler() http.Handler {
	loadOnce.Do(load)
	return http.HandlerFunc(serve)
}

func serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", CSP)
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path == strings.TrimSuffix(Prefix, "/") {
		http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
		return
	}
	rel, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	rel = strings.TrimSuffix(rel, "/")
	if rel == "" {
		rel = "index.html"
	}
	a := assets[rel]
	if a == nil || strings.Contains(rel, "..") {
		if strings.Contains(path.Base(rel), ".") {
			http.NotFound(w, r)
			return
		}
		a = assets["index.html"] // a page of the client-side router
	}
	h.Set("Content-Type", a.ctype)
	h.Set("Cache-Control", "no-cache")
	h.Add("Vary", "Accept-Encoding")
	body, etag := a.body, a.etag
	if a.gz != nil && acceptsGzip(r) {
		body, etag = a.gz, strings.TrimSuffix(a.etag, `"`)+`-gz"`
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("ETag", etag)
	http.ServeContent(w, r, "", noTime, bytes.NewReader(body))
}

var noTime time.Time // no Last-Modified: the ETag is the validator

// acceptsGzip reports whether Accept-Encoding lists gzip (without q=0).
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") {
			q := strings.ReplaceAll(params, " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}
