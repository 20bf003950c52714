package inbox_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/nyaruka/phonenumbers"

	"github.com/switchboard-sms/switchboard/inbox"
)

func TestCanonicalMessageID(t *testing.T) {
	t.Parallel()
	cases := []struct {
		f    inbox.IDFormat
		in   string
		want string
	}{
		{inbox.IDHex, "00B8BE19", "12107289"},
		{inbox.IDHex, "B8BE19", "12107289"},
		{inbox.IDHex, "b8be19", "12107289"},
		{inbox.IDHex, "0xB8BE19", "12107289"},
		{inbox.IDHex, " 00b8BE19\x00", "12107289"},
		{inbox.IDDecimal, "12107289", "12107289"},
		{inbox.IDDecimal, "0012107289", "12107289"},
		{inbox.IDDecimal, "0", "0"},
		{inbox.IDHex, "0000", "0"},
		{inbox.IDHex, "FFFFFFFFFFFFFFFF", "18446744073709551615"},
		{inbox.IDHex, "1FFFFFFFFFFFFFFFF", "36893488147419103231"},            // past 64 bits
		{inbox.IDDecimal, "000036893488147419103231", "36893488147419103231"}, // past 64 bits, zeros
		{inbox.IDOpaque, " AbC-12 ", "abc-12"},
		{inbox.IDOpaque, "00B8BE19", "00b8be19"},
		{inbox.IDDecimal, "12x", "12x"},       // not decimal: opaque fallback
		{inbox.IDHex, "G1", "g1"},             // not hex: opaque fallback
		{inbox.IDDecimal, "B8BE19", "b8be19"}, // hex text under a decimal format stays text
		{inbox.IDDecimal, "", ""},
	}
	for _, c := range cases {
		if got := inbox.CanonicalMessageID(c.f, c.in); got != c.want {
			t.Errorf("CanonicalMessageID(%v, %q) = %q, want %q", c.f, c.in, got, c.want)
		}
	}
	// A decimal receipt matches a hex submit response; formats matter.
	if inbox.CanonicalMessageID(inbox.IDHex, "00B8BE19") != inbox.CanonicalMessageID(inbox.IDDecimal, "12107289") {
		t.Error("hex resp and decimal receipt of one id differ")
	}
	if inbox.CanonicalMessageID(inbox.IDHex, "10") == inbox.CanonicalMessageID(inbox.IDDecimal, "10") {
		t.Error("hex 10 and decimal 10 must differ")
	}
	for _, name := range []string{"hex", "decimal", "opaque"} {
		f, ok := inbox.ParseIDFormat(name)
		if !ok || f.String() != name {
			t.Errorf("ParseIDFormat(%q) = %v, %v", name, f, ok)
		}
	}
	if _, ok := inbox.ParseIDFormat("octal"); ok {
		t.Error("octal accepted")
	}
}

func TestParseKeyword(t *testing.T) {
	t.Parallel()
	cases := map[string]inbox.Keyword{
		"STOP": inbox.KeywordOptOut, " stop ": inbox.KeywordOptOut, "Stop\n": inbox.KeywordOptOut,
		"stopall": inbox.KeywordOptOut, "Stop All": inbox.KeywordOptOut, "UNSUBSCRIBE": inbox.KeywordOptOut,
		"cancel": inbox.KeywordOptOut, "End": inbox.KeywordOptOut, "quit": inbox.KeywordOptOut,
		"START": inbox.KeywordOptIn, "yes": inbox.KeywordOptIn, " UnStop ": inbox.KeywordOptIn,
		"STOP.": inbox.KeywordOptOut, " Stop! ": inbox.KeywordOptOut, // punctuation is ignored (NormalizeKeyword)
		"stop please": inbox.KeywordNone, "": inbox.KeywordNone,
		"hello": inbox.KeywordNone, "yes please": inbox.KeywordNone, "nonstop": inbox.KeywordNone,
	}
	for in, want := range cases {
		if got := inbox.ParseKeyword(in); got != want {
			t.Errorf("ParseKeyword(%q) = %v, want %v", in, got, want)
		}
	}
}

// The keyword rule of docs/opt-outs.md: the whole body is compared, case,
// accents, compatibility forms, white space, punctuation and emoji aside,
// so a keyword with punctuation around it (STOP., ¡Baja!, ARRÊTE !) acts,
// and a keyword inside a sentence does not; per language, with accents.
func TestKeywordIsTheWholeBody(t *testing.T) {
	t.Parallel()
	cases := []struct {
		body string
		want inbox.Keyword
	}{
		// punctuation, spaces, emoji and width around the keyword
		{"STOP.", inbox.KeywordOptOut}, {"stop!", inbox.KeywordOptOut}, {" Stop ", inbox.KeywordOptOut},
		{"Stop?", inbox.KeywordOptOut}, {"STOP!!!", inbox.KeywordOptOut}, {"\"stop\"", inbox.KeywordOptOut},
		{"Stop 🛑", inbox.KeywordOptOut}, {"ＳＴＯＰ", inbox.KeywordOptOut}, {"Opt out.", inbox.KeywordOptOut},
		{"REVOKE", inbox.KeywordOptOut}, {"Unsubscribe.", inbox.KeywordOptOut}, {"Start!", inbox.KeywordOptIn},
		{"Help?", inbox.KeywordHelp},
		// a keyword in a sentence is no keyword (the message is still filed)
		{"STOP please", inbox.KeywordNone}, {"please stop", inbox.KeywordNone}, {"Stop, please!", inbox.KeywordNone},
		{"stop texting me", inbox.KeywordNone}, {"I want to cancel", inbox.KeywordNone}, {"stop2", inbox.KeywordNone},
		// es, fr, de, it, pt, nl, sl: accents, inverted and spaced punctuation
		{"¡Baja!", inbox.KeywordOptOut}, {"cancelar.", inbox.KeywordOptOut}, {"¿Ayuda?", inbox.KeywordHelp},
		{"Baja por favor", inbox.KeywordNone},
		{"Arrêt.", inbox.KeywordOptOut}, {"ARRÊTE !", inbox.KeywordOptOut}, {"Désabonner", inbox.KeywordOptOut},
		{"Aide ?", inbox.KeywordHelp}, {"Démarrer", inbox.KeywordOptIn}, {"Arrêtez s'il vous plaît", inbox.KeywordNone},
		{"Stopp!", inbox.KeywordOptOut}, {"abbestellen.", inbox.KeywordOptOut}, {"Hilfe?", inbox.KeywordHelp},
		{"Basta!", inbox.KeywordOptOut}, {"Disiscrivi.", inbox.KeywordOptOut}, {"Aiuto", inbox.KeywordHelp},
		{"Sair.", inbox.KeywordOptOut}, {"Descadastrar!", inbox.KeywordOptOut}, {"Ajuda?", inbox.KeywordHelp},
		{"Afmelden!", inbox.KeywordOptOut}, {"Uitschrijven.", inbox.KeywordOptOut}, {"Hulp", inbox.KeywordHelp},
		{"Odjava.", inbox.KeywordOptOut}, {"Pomoč!", inbox.KeywordHelp}, {"Prijava", inbox.KeywordOptIn},
	}
	for _, c := range cases {
		if got := inbox.ParseKeyword(c.body); got != c.want {
			t.Errorf("ParseKeyword(%q) = %v, want %v", c.body, got, c.want)
		}
	}
}

func TestNormalizeE164(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"+14155552671", "+14155552671", true},
		{" +1 (415) 555-2671 ", "+14155552671", true},
		{"+447911123456", "+447911123456", true},
		{"+33 6 12 34 56 78", "+33612345678", true},
		{"14155552671", "", false}, // no '+': not international form
		{"+1415555267", "", false}, // too short for the US plan
		{"+15550100123", "", false},
		{"+999123456", "", false},
		{"+", "", false},
		{"", "", false},
		{"+1415555267a", "", false},
	}
	// Twice: the second round is answered from the cache.
	for round := range 2 {
		for _, c := range cases {
			got, ok := inbox.NormalizeE164(c.in)
			if got != c.want || ok != c.ok {
				t.Errorf("round %d: NormalizeE164(%q) = %q, %v; want %q, %v", round, c.in, got, ok, c.want, c.ok)
			}
		}
	}
	for i := 0; i < 2000; i += 97 {
		if _, ok := inbox.NormalizeE164(contact(i)); !ok {
			t.Fatalf("test contact %s is not valid", contact(i))
		}
	}
}

func TestErrorCodes(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("wrapped: %w", inbox.ErrRecipientOptedOut)
	if !errors.Is(err, inbox.ErrRecipientOptedOut) || errors.Is(err, inbox.ErrNotFound) {
		t.Fatal("errors.Is does not match on code")
	}
	wantCode(t, err, inbox.CodeRecipientOptedOut)
	if inbox.ErrorCode(errors.New("x")) != "" {
		t.Fatal("code of a plain error")
	}
	for _, c := range []struct {
		err  error
		code string
	}{
		{inbox.ErrSMSAddonRequired, "sms_addon_required"}, {inbox.ErrNoNumberConnected, "no_number_connected"},
		{inbox.ErrNumberDisabled, "number_disabled"}, {inbox.ErrRecipientOptedOut, "recipient_opted_out"},
		{inbox.ErrInvalidRecipient, "invalid_recipient"}, {inbox.ErrMessageTooLong, "message_too_long"},
		{inbox.ErrNotFound, "not_found"},
	} {
		if string(inbox.ErrorCode(c.err)) != c.code {
			t.Errorf("%v: code %q, want %q", c.err, inbox.ErrorCode(c.err), c.code)
		}
	}
}

// TestNormalizeE164MatchesLibphonenumber: the fast path for plain E.164
// input agrees with the full parser on example numbers of every region and
// type, and on variations of them.
func TestNormalizeE164MatchesLibphonenumber(t *testing.T) {
	t.Parallel()
	types := []phonenumbers.PhoneNumberType{phonenumbers.FIXED_LINE, phonenumbers.MOBILE, phonenumbers.TOLL_FREE,
		phonenumbers.PREMIUM_RATE, phonenumbers.VOIP, phonenumbers.PERSONAL_NUMBER, phonenumbers.UAN}
	full := func(s string) (string, bool) {
		n, err := phonenumbers.Parse(s, "ZZ")
		if err != nil || !phonenumbers.IsValidNumber(n) {
			return "", false
		}
		return phonenumbers.Format(n, phonenumbers.E164), true
	}
	checked := 0
	for region := range phonenumbers.GetSupportedRegions() {
		for _, typ := range types {
			ex := phonenumbers.GetExampleNumberForType(region, typ)
			if ex == nil {
				continue
			}
			base := phonenumbers.Format(ex, phonenumbers.E164)
			variants := []string{base}
			for d := 0; d < 10; d++ {
				variants = append(variants, base[:len(base)-1]+fmt.Sprint(d), base+fmt.Sprint(d), base[:len(base)-1])
			}
			for _, v := range variants {
				gotE, gotOK := inbox.NormalizeE164(v)
				wantE, wantOK := full(v)
				if gotOK != wantOK || gotE != wantE {
					t.Errorf("%s %v: NormalizeE164(%q) = %q, %v; libphonenumber %q, %v", region, typ, v, gotE, gotOK, wantE, wantOK)
				}
				checked++
			}
		}
	}
	if checked < 5000 {
		t.Fatalf("only %d numbers checked", checked)
	}
}

// BenchmarkNormalizeE164: a recipient seen before (cached) and one never
// seen (the number plan check).
func BenchmarkNormalizeE164(b *testing.B) {
	b.Run("seen", func(b *testing.B) {
		for b.Loop() {
			inbox.NormalizeE164("+14155552671")
		}
	})
	b.Run("new", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			inbox.NormalizeE164(contact(5_000_000 + i))
		}
	})
}
