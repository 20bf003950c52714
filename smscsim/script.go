package smscsim

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/coding"
)

// Script is a fault script carried in a submit_sm's text, the idea of
// smppsink: the text itself says how the simulator answers, e.g.
//
//	{submit:{status:0x58}}
//	{submit:{after:2s},receipt:{stat:UNDELIV,err:34,after:5s}}
//	{receipt:{first:true}}
//	{submit:{drop:true}}
//
// Sections and keys:
//
//	submit   status  command_status of the submit_sm_resp (0x58, 88, ESME_RTHROTTLED)
//	         after   delay before the submit_sm_resp (a duration)
//	         drop    true: never answer this submit_sm
//	receipt  stat    the receipt's stat (DELIVRD, UNDELIV, EXPIRED, REJECTD, ...)
//	         err     the receipt's err: code, 0..999
//	         after   delay between the submit_sm_resp and the receipt
//	         first   true: send the receipt before the submit_sm_resp
//	         none    true: send no receipt even when one is asked for
//
// Keys and values may be quoted ("submit", "0x58"), so JSON works too;
// whitespace is allowed between tokens. A text is taken for a script when
// it starts with '{' and ends with '}' (in any coding: GSM 7-bit, where the
// braces are escapes, ASCII, Latin-1 or UCS-2); one that does not parse is
// sent as a plain message and counted (script_errors). A script with a status answers with that
// status whatever the rate limits say, and a receipt section forces a
// receipt even when registered_delivery asked for none (unless none:true).
type Script struct {
	Status    smpp.Status
	HasStatus bool
	After     time.Duration // delay before the response
	HasAfter  bool
	Drop      bool

	Receipt         bool // a receipt section was given
	Stat            smpp.MessageState
	HasStat         bool
	Err             int
	HasErr          bool
	ReceiptAfter    time.Duration
	HasReceiptAfter bool
	First           bool
	NoReceipt       bool
}

// scriptText returns a submit_sm's text when it starts with '{' and ends
// with '}' (a fault script), decoded; ok is false otherwise. The check is cheap; decoding
// allocates, but only scripted messages pay it.
func scriptText(sm *smpp.SubmitSM) (string, bool) {
	b := sm.ShortMessage
	if len(b) == 0 {
		if pl, ok := sm.TLVs.MessagePayload(); ok {
			b = pl
		}
	}
	if sm.ESMClass&smpp.ESMClassUDHI != 0 {
		if _, d, err := coding.ParseUDH(b); err == nil {
			b = d
		}
	}
	enc := smpp.EncodingOf(sm.DataCoding, 0)
	switch {
	case len(b) == 0:
		return "", false
	case enc == coding.GSM7 && (b[0] == '{' || len(b) > 1 && b[0] == 0x1B && b[1] == 0x28):
	case enc == coding.UCS2 && len(b) > 1 && b[0] == 0 && b[1] == '{':
	case (enc == coding.Latin1 || enc == coding.Binary) && b[0] == '{':
	default:
		return "", false
	}
	var text string
	if enc == coding.GSM7 && b[0] == '{' {
		text = string(b) // sent as ASCII with data_coding 0, as many clients do
	} else {
		text = string(coding.AppendDecodeReplace(nil, b, enc))
	}
	// A script also ends with '}': a GSM text that merely starts with 'ä'
	// (0x7B, ASCII '{') is not one.
	if !strings.HasSuffix(strings.TrimRight(text, " \r\n"), "}") {
		return "", false
	}
	return text, true
}

// maxScriptLen bounds what ParseScript reads; a message text is shorter.
const maxScriptLen = 4096

// ParseScript parses a fault script. Errors say where and what is wrong.
func ParseScript(s string) (Script, error) {
	var sc Script
	if len(s) > maxScriptLen {
		return sc, fmt.Errorf("script longer than %d characters", maxScriptLen)
	}
	p := &scriptParser{s: s}
	if err := p.object(func(section string) error {
		switch section {
		case "submit":
			return p.object(func(key string) error {
				v, err := p.value()
				if err != nil {
					return err
				}
				switch key {
				case "status":
					st, err := ParseStatus(v)
					if err != nil {
						return p.errf("submit.status: %v", err)
					}
					sc.Status, sc.HasStatus = st, true
				case "after", "delay":
					d, err := parseNonNegDuration(v)
					if err != nil {
						return p.errf("submit.after: %v", err)
					}
					sc.After, sc.HasAfter = d, true
				case "drop":
					b, err := parseBool(v)
					if err != nil {
						return p.errf("submit.drop: %v", err)
					}
					sc.Drop = b
				default:
					return p.errf("submit: unknown key %q (status, after, drop)", key)
				}
				return nil
			})
		case "receipt":
			sc.Receipt = true
			return p.object(func(key string) error {
				v, err := p.value()
				if err != nil {
					return err
				}
				switch key {
				case "stat", "status", "state":
					st, err := ParseStat(v)
					if err != nil {
						return p.errf("receipt.stat: %v", err)
					}
					sc.Stat, sc.HasStat = st, true
				case "err":
					e, err := strconv.Atoi(v)
					if err != nil || e < 0 || e > 999 {
						return p.errf("receipt.err: %q is not a number 0..999", v)
					}
					sc.Err, sc.HasErr = e, true
				case "after", "delay":
					d, err := parseNonNegDuration(v)
					if err != nil {
						return p.errf("receipt.after: %v", err)
					}
					sc.ReceiptAfter, sc.HasReceiptAfter = d, true
				case "first":
					b, err := parseBool(v)
					if err != nil {
						return p.errf("receipt.first: %v", err)
					}
					sc.First = b
				case "none":
					b, err := parseBool(v)
					if err != nil {
						return p.errf("receipt.none: %v", err)
					}
					sc.NoReceipt = b
				default:
					return p.errf("receipt: unknown key %q (stat, err, after, first, none)", key)
				}
				return nil
			})
		}
		return p.errf("unknown section %q (submit, receipt)", section)
	}); err != nil {
		return Script{}, err
	}
	p.space()
	if p.i != len(p.s) {
		return Script{}, p.errf("text after the closing '}'")
	}
	return sc, nil
}

func parseBool(v string) (bool, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%q is not true or false", v)
	}
	return b, nil
}

type scriptParser struct {
	s     string
	i     int
	depth int
}

func (p *scriptParser) errf(format string, args ...any) error {
	return fmt.Errorf("fault script at offset %d: %s", p.i, fmt.Sprintf(format, args...))
}

func (p *scriptParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *scriptParser) expect(c byte) error {
	p.space()
	if p.i >= len(p.s) {
		return p.errf("want %q, the script ends", c)
	}
	if p.s[p.i] != c {
		return p.errf("want %q, got %q", c, p.s[p.i])
	}
	p.i++
	return nil
}

// object parses '{' [key ':' member (',' key ':' member)*] '}', calling
// member after each key's ':'.
func (p *scriptParser) object(member func(key string) error) error {
	if p.depth >= 2 {
		return p.errf("nesting too deep")
	}
	p.depth++
	defer func() { p.depth-- }()
	if err := p.expect('{'); err != nil {
		return err
	}
	p.space()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		return nil
	}
	seen := map[string]bool{}
	for {
		key, err := p.token()
		if err != nil {
			return err
		}
		if seen[key] {
			return p.errf("%q given twice", key)
		}
		seen[key] = true
		if err := p.expect(':'); err != nil {
			return err
		}
		if err := member(key); err != nil {
			return err
		}
		p.space()
		if p.i >= len(p.s) {
			return p.errf("want ',' or '}', the script ends")
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return nil
		default:
			return p.errf("want ',' or '}', got %q", p.s[p.i])
		}
	}
}

// value reads a scalar value (a token); objects are not values.
func (p *scriptParser) value() (string, error) {
	p.space()
	if p.i < len(p.s) && p.s[p.i] == '{' {
		return "", p.errf("want a value, got an object")
	}
	return p.token()
}

// token reads a bare word ([A-Za-z0-9_.+-]) or a double-quoted string
// without escapes.
func (p *scriptParser) token() (string, error) {
	p.space()
	if p.i >= len(p.s) {
		return "", p.errf("want a word, the script ends")
	}
	if p.s[p.i] == '"' {
		j := strings.IndexByte(p.s[p.i+1:], '"')
		if j < 0 {
			return "", p.errf("unterminated quoted string")
		}
		v := p.s[p.i+1 : p.i+1+j]
		p.i += j + 2
		if v == "" {
			return "", p.errf("empty quoted string")
		}
		return v, nil
	}
	j := p.i
	for j < len(p.s) && isWordByte(p.s[j]) {
		j++
	}
	if j == p.i {
		return "", p.errf("want a word, got %q", p.s[p.i])
	}
	v := p.s[p.i:j]
	p.i = j
	return v, nil
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '+' || c == '-'
}
