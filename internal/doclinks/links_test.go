package doclinks

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// root is the repository's top folder, from this package's.
const root = "../.."

var (
	inlineLink = regexp.MustCompile(`!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	refLink    = regexp.MustCompile(`(?m)^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$`)
	fence      = regexp.MustCompile("(?ms)^\\s*(```|~~~).*?^\\s*(```|~~~)\\s*$")
	inlineCode = regexp.MustCompile("`[^`\n]*`")
	scheme     = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
)

// links returns the link targets of a Markdown text, code left out.
func links(text string) []string {
	text = fence.ReplaceAllString(text, "")
	text = inlineCode.ReplaceAllString(text, "")
	var out []string
	for _, re := range []*regexp.Regexp{inlineLink, refLink} {
		for _, m := range re.FindAllStringSubmatch(text, -1) {
			out = append(out, m[1])
		}
	}
	return out
}

// markdownFiles lists the repository's Markdown files (outside testdata
// and hidden folders), relative to root.
func markdownFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bin" || name == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(name, ".md") {
			rel, _ := filepath.Rel(root, path)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// problem says what is wrong with target, linked from file (relative to
// root), or "".
func problem(file, target string, insideOnly bool) string {
	if strings.HasPrefix(target, "#") {
		return ""
	}
	if scheme.MatchString(target) {
		if insideOnly {
			return "points outside the repository"
		}
		return ""
	}
	path, _, _ := strings.Cut(target, "#")
	path, _, _ = strings.Cut(path, "?")
	if strings.HasPrefix(path, "/") {
		return "is an absolute path: link relative to the file"
	}
	rel := filepath.Clean(filepath.Join(filepath.Dir(file), filepath.FromSlash(path)))
	if rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "leaves the repository"
	}
	if _, err := os.Stat(filepath.Join(root, rel)); err != nil {
		return "names a file that does not exist (" + filepath.ToSlash(rel) + ")"
	}
	return ""
}

// TestMarkdownLinks: README.md and docs/ link only inside the repository,
// and every relative link of every Markdown file exists.
func TestMarkdownLinks(t *testing.T) {
	files := markdownFiles(t)
	seen := map[string]bool{}
	for _, f := range files {
		seen[f] = true
	}
	for _, must := range []string{"README.md", "docs/architecture.md", "docs/operations.md", "docs/carriers.md"} {
		if !seen[must] {
			t.Errorf("%s is missing", must)
		}
	}
	checked := 0
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		insideOnly := f == "README.md" || strings.HasPrefix(f, "docs/")
		for _, target := range links(string(b)) {
			checked++
			if p := problem(f, target, insideOnly); p != "" {
				t.Errorf("%s: the link to %q %s", f, target, p)
			}
		}
	}
	if checked < 10 {
		t.Errorf("found only %d links in %d Markdown files: the link parser is broken", checked, len(files))
	}
}

// TestLinkChecker: the checker finds what it must, in code and out.
func TestLinkChecker(t *testing.T) {
	text := "See [a](docs/a.md), ![img](docs/i.png \"title\"), [web](https://example.com/x), [anchor](#top).\n" +
		"`[not](code.md)`\n```\n[fenced](fenced.md)\n```\n[ref]: ../outside.md\n"
	got := strings.Join(links(text), " ")
	if want := "docs/a.md docs/i.png https://example.com/x #top ../outside.md"; got != want {
		t.Errorf("links = %q, want %q", got, want)
	}
	for _, c := range []struct {
		file, target string
		inside       bool
		bad          bool
	}{
		{"README.md", "DEVELOPERS.md", true, false},
		{"README.md", "../shared/DESIGN.md", true, true},
		{"README.md", "docs/nope.md", true, true},
		{"README.md", "https://example.com", true, true},
		{"bench/README.md", "https://example.com", false, false},
		{"docs/operations.md", "../configs/switchboard.yaml#L1", true, false},
		{"docs/operations.md", "/etc/passwd", true, true},
		{"docs/operations.md", "#watching-it", true, false},
	} {
		if p := problem(c.file, c.target, c.inside); (p != "") != c.bad {
			t.Errorf("%s → %s: problem %q, want bad=%v", c.file, c.target, p, c.bad)
		}
	}
}
