package console_test

import (
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/switchboard-sms/switchboard/console"
	"github.com/switchboard-sms/switchboard/console/internal/counter"
	"github.com/switchboard-sms/switchboard/inbox"
)

func get(t *testing.T, h http.Handler, method, path string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	rd := io.Reader(r.Body)
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			t.Fatal(err)
		}
		rd = zr
	}
	b, err := io.ReadAll(rd)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestConsoleHandlerServesFiles(t *testing.T) {
	t.Parallel()
	h := console.Handler()
	index, _ := os.ReadFile("static/index.html")
	for _, c := range []struct {
		path, ctype string
		want        []byte // nil: only the type
	}{
		{"/console/", "text/html; charset=utf-8", index},
		{"/console/index.html", "text/html; charset=utf-8", index},
		{"/console/style.css", "text/css; charset=utf-8", nil},
		{"/console/js/app.js", "text/javascript; charset=utf-8", nil},
		{"/console/wasm_exec.js", "text/javascript; charset=utf-8", nil},
		{"/console/counter.wasm", "application/wasm", nil},
		{"/console/icon.svg", "image/svg+xml", nil},
		// Pages of the client-side router get index.html.
		{"/console/messages", "text/html; charset=utf-8", index},
		{"/console/messages/42", "text/html; charset=utf-8", index},
		{"/console/settings/sms/", "text/html; charset=utf-8", index},
	} {
		r := get(t, h, "GET", c.path, nil)
		if r.StatusCode != 200 {
			t.Errorf("%s: %d", c.path, r.StatusCode)
			continue
		}
		if got := r.Header.Get("Content-Type"); got != c.ctype {
			t.Errorf("%s: Content-Type %q, want %q", c.path, got, c.ctype)
		}
		b := body(t, r)
		if c.want != nil && b != string(c.want) {
			t.Errorf("%s: not the expected file", c.path)
		}
		for k, v := range map[string]string{"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
			"Content-Security-Policy": console.CSP, "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"} {
			if got := r.Header.Get(k); got != v {
				t.Errorf("%s: %s %q, want %q", c.path, k, got, v)
			}
		}
		if r.Header.Get("ETag") == "" {
			t.Errorf("%s: no ETag", c.path)
		}
	}
}

func TestConsoleHandlerMissingAndMethods(t *testing.T) {
	t.Parallel()
	h := console.Handler()
	for _, p := range []string{"/console/nope.js", "/console/js/views/nope.js", "/console/../go.mod", "/elsewhere"} {
		if r := get(t, h, "GET", p, nil); r.StatusCode != 404 {
			t.Errorf("GET %s: %d, want 404", p, r.StatusCode)
		}
	}
	if r := get(t, h, "POST", "/console/", nil); r.StatusCode != 405 || r.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d, Allow %q", r.StatusCode, r.Header.Get("Allow"))
	}
	r := get(t, h, "GET", "/console", nil)
	if r.StatusCode != http.StatusMovedPermanently || r.Header.Get("Location") != "/console/" {
		t.Errorf("GET /console: %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	if r := get(t, h, "HEAD", "/console/style.css", nil); r.StatusCode != 200 || body(t, r) != "" {
		t.Errorf("HEAD: %d", r.StatusCode)
	}
}

func TestConsoleHandlerGzipAndRevalidation(t *testing.T) {
	t.Parallel()
	h := console.Handler()
	plain := get(t, h, "GET", "/console/counter.wasm", nil)
	zipped := get(t, h, "GET", "/console/counter.wasm", map[string]string{"Accept-Encoding": "br, gzip"})
	if plain.Header.Get("Content-Encoding") != "" || zipped.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q and %q", plain.Header.Get("Content-Encoding"), zipped.Header.Get("Content-Encoding"))
	}
	if zipped.Header.Get("Vary") != "Accept-Encoding" || plain.Header.Get("ETag") == zipped.Header.Get("ETag") {
		t.Fatalf("Vary %q, ETags %q %q", zipped.Header.Get("Vary"), plain.Header.Get("ETag"), zipped.Header.Get("ETag"))
	}
	if body(t, plain) != body(t, zipped) {
		t.Fatal("the gzip answer decodes to another file")
	}
	if r := get(t, h, "GET", "/console/counter.wasm", map[string]string{"Accept-Encoding": "gzip;q=0"}); r.Header.Get("Content-Encoding") != "" {
		t.Fatal("gzip sent to a client that refuses it")
	}
	r := get(t, h, "GET", "/console/counter.wasm", map[string]string{"Accept-Encoding": "gzip", "If-None-Match": zipped.Header.Get("ETag")})
	if r.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidation: %d, want 304", r.StatusCode)
	}
}

// Nothing in the pages loads from another origin, and nothing needs what
// the Content-Security-Policy forbids (inline scripts and styles, eval,
// style attributes in markup).
func TestConsoleStaticIsSelfContained(t *testing.T) {
	t.Parallel()
	external := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|@import|url\(\s*["']?(https?:)?//|fetch\(\s*["'` + "`" + `]https?:`)
	forbidden := regexp.MustCompile(`(?i)<script>|<script\s+(type="module"\s*)?>|\bon(click|load|input|submit|error)\s*=\s*"|<style|\bstyle\s*=\s*"|\beval\(|new Function\(|innerHTML\s*=`)
	err := fs.WalkDir(os.DirFS("static"), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == "wasm_exec.js" || p == "counter.wasm" {
			return err // wasm_exec.js is Go's own file, checked by TestConsoleWasmUpToDate
		}
		b, err := os.ReadFile(filepath.Join("static", p))
		if err != nil {
			return err
		}
		s := string(b)
		if strings.HasSuffix(p, ".svg") {
			s = strings.Replace(s, `xmlns="http://www.w3.org/2000/svg"`, "", 1)
		}
		if m := external.FindString(s); m != "" {
			t.Errorf("%s refers to another origin: %q", p, m)
		}
		if m := forbidden.FindString(s); m != "" {
			t.Errorf("%s uses what the CSP forbids: %q", p, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The counter's limit is the inbox's.
func TestConsoleMaxSegments(t *testing.T) {
	if counter.MaxSegments != inbox.MaxSegments {
		t.Fatalf("counter.MaxSegments = %d, inbox.MaxSegments = %d", counter.MaxSegments, inbox.MaxSegments)
	}
}
