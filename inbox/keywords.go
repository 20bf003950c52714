package inbox

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/language"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// Keyword is what an inbound keyword does.
type Keyword int

// Keyword actions. The values are stored (workspace_keywords.action) and
// passed to SQL: do not renumber.
const (
	KeywordNone   Keyword = iota // not a keyword, or a default keyword the workspace turned off
	KeywordOptOut                // STOP and synonyms: the contact opts out of the workspace
	KeywordOptIn                 // START and synonyms: the contact opts back in
	KeywordHelp                  // HELP and synonyms: no change; the help reply, if any, is sent
)

// String is the keyword action's name in the API: "opt_out", "opt_in",
// "help", or "none".
func (k Keyword) String() string {
	switch k {
	case KeywordOptOut:
		return "opt_out"
	case KeywordOptIn:
		return "opt_in"
	case KeywordHelp:
		return "help"
	}
	return "none"
}

// ParseKeywordAction is the inverse of Keyword.String.
func ParseKeywordAction(s string) (Keyword, bool) {
	for _, k := range []Keyword{KeywordNone, KeywordOptOut, KeywordOptIn, KeywordHelp} {
		if k.String() == s {
			return k, true
		}
	}
	return KeywordNone, false
}

// Languages are the languages with default keywords, in the order the API
// lists them (ISO 639-1 codes).
var Languages = []string{"en", "es", "fr", "de", "it", "pt", "nl", "sl"}

// defaultKeywords are the keywords of each language, in NormalizeKeyword
// form. English follows the lists carriers apply (CTIA's STOP/HELP, as
// Twilio and AWS End User Messaging document them: STOP, STOPALL,
// UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT, REMOVE; START, UNSTOP,
// YES; HELP, INFO); French adds ARRET (Canadian bilingual rules: ARRET,
// AIDE, INFO). The other languages' words are the usual imperatives and
// nouns for "stop", "unsubscribe", "start" and "help"; docs/opt-outs.md
// lists them all with their sources. A word in several languages has the
// same action in each (a test checks).
var defaultKeywords = map[string][3][]string{ // language → opt-out, opt-in, help
	"en": {{"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "REMOVE"},
		{"START", "UNSTOP", "YES"}, {"HELP", "INFO"}},
	"es": {{"BAJA", "PARAR", "DETENER", "CANCELAR", "ANULAR"}, {"ALTA", "COMENZAR"}, {"AYUDA", "INFO"}},
	"fr": {{"ARRET", "ARRETER", "ARRETE", "DESABONNER", "DESINSCRIRE"}, {"DEMARRER", "REPRENDRE"}, {"AIDE", "INFO"}},
	"de": {{"STOPP", "ABMELDEN", "ABBESTELLEN", "BEENDEN"}, {"ANMELDEN", "START"}, {"HILFE", "INFO"}},
	"it": {{"BASTA", "ANNULLA", "CANCELLA", "DISISCRIVI"}, {"INIZIA", "ISCRIVI"}, {"AIUTO", "INFO"}},
	"pt": {{"PARAR", "SAIR", "CANCELAR", "DESCADASTRAR"}, {"INICIAR"}, {"AJUDA", "INFO"}},
	"nl": {{"STOPPEN", "AFMELDEN", "UITSCHRIJVEN"}, {"AANMELDEN"}, {"HULP", "INFO"}},
	"sl": {{"ODJAVA", "ODJAVI", "USTAVI", "KONEC"}, {"PRIJAVA", "PRIJAVI"}, {"POMOC", "INFO"}},
}

// defaultKeyword is one default keyword: its action and the languages that
// have it.
type defaultKeyword struct {
	action Keyword
	langs  []string
}

// defaults indexes defaultKeywords by keyword.
var defaults = func() map[string]defaultKeyword {
	m := map[string]defaultKeyword{}
	for _, lang := range Languages {
		for i, words := range defaultKeywords[lang] {
			for _, w := range words {
				d := m[w]
				if d.action != KeywordNone && d.action != Keyword(i+1) {
					panic("inbox: default keyword " + w + " has two actions")
				}
				d.action = Keyword(i + 1)
				d.langs = append(d.langs, lang)
				m[w] = d
			}
		}
	}
	return m
}()

// DefaultKeywords returns the default keywords of a language (nil for an
// unknown one), by action.
func DefaultKeywords(lang string) (optOut, optIn, help []string) {
	d, ok := defaultKeywords[lang]
	if !ok {
		return nil, nil, nil
	}
	return slices.Clone(d[0]), slices.Clone(d[1]), slices.Clone(d[2])
}

// MaxKeywordLength bounds a keyword in NormalizeKeyword form, in bytes.
const MaxKeywordLength = 32

// maxKeywordBody is the longest body (bytes) examined for a keyword:
// anything longer is a sentence, not a keyword, and costs nothing more.
const maxKeywordBody = 64

// foldKeyword returns a transformer that folds compatibility forms
// (fullwidth "ＳＴＯＰ" → "STOP", ligatures) and drops the accents of
// decomposed letters ("Arrêt" → "Arret", "pomoč" → "pomoc"), then
// upper-cases with the full Unicode mappings ("ß" → "SS"). x/text's norm,
// runes and cases: the Unicode tables are what this needs, and
// hand-written ones would drift. Transformers keep state: one per call,
// never shared.
func foldKeyword() transform.Transformer {
	return transform.Chain(norm.NFKD, runes.Remove(runes.In(unicode.Mn)), norm.NFC, cases.Upper(language.Und))
}

// NormalizeKeyword returns the form in which keywords are compared (the
// whole body, docs/opt-outs.md says why): upper case, without accents,
// compatibility forms folded, and without white space, zero-width
// characters, punctuation and symbols (emoji) anywhere, so " Stop! ",
// "STOP.", "stop all", "Opt-out", "ＳＴＯＰ", "ARRÊT" and "arret" compare
// as STOP, STOP, STOPALL, OPTOUT, STOP, ARRET and ARRET, and "stop
// please" as STOPPLEASE, no keyword. It returns "" for a body longer than
// 64 bytes (a sentence) or one whose form is longer than
// MaxKeywordLength. Safe for any input, including invalid UTF-8 (whose
// bad bytes are dropped).
func NormalizeKeyword(body string) string {
	if len(body) > maxKeywordBody {
		return ""
	}
	ascii := true
	for i := 0; i < len(body); i++ {
		if body[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if !ascii {
		s, _, err := transform.String(foldKeyword(), strings.ToValidUTF8(body, ""))
		if err != nil {
			return ""
		}
		body = s
	}
	var b strings.Builder
	b.Grow(len(body))
	for _, r := range body {
		switch {
		case r == utf8.RuneError, unicode.IsSpace(r), unicode.IsPunct(r), unicode.IsSymbol(r),
			unicode.Is(unicode.Cf, r), unicode.IsControl(r), unicode.Is(unicode.Mn, r):
			continue
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	if b.Len() > MaxKeywordLength {
		return ""
	}
	return b.String()
}

// ParseKeyword reports what a whole inbound body does under the default
// keywords of every language (see KeywordSettings.Match for a workspace's
// own settings). "stop please" is no keyword: only the whole body counts.
func ParseKeyword(body string) Keyword {
	return defaults[NormalizeKeyword(body)].action
}

// matchDefault returns the normalized body, the default action and the
// languages that have it (comma-separated), "" when it is no default.
func matchDefault(body string) (norm string, k Keyword, langs string) {
	norm = NormalizeKeyword(body)
	if norm == "" {
		return "", KeywordNone, ""
	}
	d := defaults[norm]
	return norm, d.action, strings.Join(d.langs, ",")
}

// CustomKeyword is a workspace's own keyword: it adds a keyword or, for a
// default one, changes what it does (KeywordNone turns it off).
type CustomKeyword struct {
	Keyword string // in NormalizeKeyword form
	Action  Keyword
}

// Reply is an automatic answer to a keyword, with the encoding and segment
// count of its text as the caller's segmentation computed them (as for
// OutboundRequest). A zero Reply sends nothing.
type Reply struct {
	Text     string
	Encoding string
	Segments int
}

// KeywordSettings are a workspace's rules for inbound keywords. The zero
// value matches nothing; DefaultKeywordSettings is what a new workspace has.
type KeywordSettings struct {
	// Languages whose default keywords apply (a subset of Languages).
	Languages []string
	// Custom keywords, checked before the defaults.
	Custom []CustomKeyword
	// Replies sent, through the normal send path from the number the
	// keyword came to, after an opt-out, an opt-in and a help keyword.
	// The opt-out reply goes out although the contact has just opted out
	// (it confirms it); all are filed in the thread.
	OptOutReply, OptInReply, HelpReply Reply
}

// DefaultKeywordSettings are a new workspace's settings: every language,
// no custom keyword, no replies.
func DefaultKeywordSettings() KeywordSettings {
	return KeywordSettings{Languages: slices.Clone(Languages)}
}

// Match reports what a whole inbound body does under these settings, and
// the keyword as matched (NormalizeKeyword form), "" when it is none. The
// inbound path applies the same rule in SQL (appendInboundSQL); a test
// holds them together.
func (k *KeywordSettings) Match(body string) (Keyword, string) {
	norm, def, langs := matchDefault(body)
	if norm == "" {
		return KeywordNone, ""
	}
	for _, c := range k.Custom {
		if c.Keyword == norm {
			if c.Action == KeywordNone {
				return KeywordNone, ""
			}
			return c.Action, norm
		}
	}
	if def != KeywordNone {
		for _, l := range strings.Split(langs, ",") {
			if slices.Contains(k.Languages, l) {
				return def, norm
			}
		}
	}
	return KeywordNone, ""
}

// reply returns the reply to a keyword action.
func (k *KeywordSettings) reply(a Keyword) Reply {
	switch a {
	case KeywordOptOut:
		return k.OptOutReply
	case KeywordOptIn:
		return k.OptInReply
	case KeywordHelp:
		return k.HelpReply
	}
	return Reply{}
}

// check validates and normalizes settings for SetKeywordSettings.
func (k *KeywordSettings) check() error {
	langs := []string{}
	for _, l := range k.Languages {
		if !slices.Contains(Languages, l) {
			return invalid("unknown language %q (known: %s)", l, strings.Join(Languages, ", "))
		}
		if !slices.Contains(langs, l) {
			langs = append(langs, l)
		}
	}
	k.Languages = langs
	seen := map[string]bool{}
	custom := make([]CustomKeyword, 0, len(k.Custom))
	for _, c := range k.Custom {
		n := NormalizeKeyword(c.Keyword)
		switch {
		case n == "":
			return invalid("keyword %q is empty or longer than %d letters", c.Keyword, MaxKeywordLength)
		case c.Action < KeywordNone || c.Action > KeywordHelp:
			return invalid("keyword %q: unknown action", c.Keyword)
		case seen[n]:
			return invalid("keyword %q is given twice (as %s)", c.Keyword, n)
		}
		seen[n] = true
		custom = append(custom, CustomKeyword{Keyword: n, Action: c.Action})
	}
	if len(custom) > MaxCustomKeywords {
		return invalid("at most %d custom keywords", MaxCustomKeywords)
	}
	k.Custom = custom
	for _, r := range []*Reply{&k.OptOutReply, &k.OptInReply, &k.HelpReply} {
		if r.Text == "" {
			*r = Reply{}
			continue
		}
		if strings.TrimSpace(r.Encoding) == "" || r.Segments < 1 {
			return invalid("a reply needs its encoding and segment count")
		}
		if r.Segments > MaxSegments {
			return ErrMessageTooLong
		}
	}
	return nil
}

// MaxCustomKeywords bounds a workspace's custom keywords.
const MaxCustomKeywords = 100
