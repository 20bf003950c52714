package smscsim

import (
	"bufio"
	"os"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/coding"
)

// msgLog is the JSONL log of accepted messages: one JSON object per line,
//
//	{"t":"2026-…Z","account":"acme","conn":3,"seq":17,"id":"1a2b","src":"14155550100",
//	 "dst":"447700900001","segments":1,"dc":0,"esm":0,"rd":1,"text":"Hello"}
//
// t is the submit_sm's arrival, the time the rate limits judged it at (the
// simulator's start plus the monotonic time since, to the nanosecond), so
// that the times of two lines differ exactly as the report's windows see
// them; segments is what it counted against the limits; validity is the
// submit_sm's validity_period, only when it has one. text is the user
// data without its UDH, decoded (U+FFFD for what does not decode); a part
// of a concatenated message adds "ref", "part" and "parts".
type msgLog struct {
	mu sync.Mutex
	f  *os.File
	w  *bufio.Writer
}

func openLog(path string) (*msgLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &msgLog{f: f, w: bufio.NewWriterSize(f, 256<<10)}, nil
}

func (l *msgLog) write(line []byte) {
	l.mu.Lock()
	_, _ = l.w.Write(line)
	l.mu.Unlock()
}

func (l *msgLog) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.w.Flush()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// logAccepted appends an accepted message, which arrived at Sim.now
// arrival, to the log. Reader goroutine only; its buffer is reused, so this
// allocates nothing once warm.
func (c *conn) logAccepted(a *account, sm *smpp.SubmitSM, seq uint32, n uint64, segs int, arrival int64) {
	b := c.logBuf[:0]
	b = append(b, `{"t":"`...)
	b = time.Unix(0, c.sim.epochUnix+arrival).UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","account":`...)
	b = appendJSONString(b, []byte(a.id))
	b = append(b, `,"conn":`...)
	b = strconv.AppendInt(b, int64(c.ID()), 10)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, uint64(seq), 10)
	b = append(b, `,"id":"`...)
	b = a.idFmt.Append(b, n)
	b = append(b, `","src":`...)
	b = appendJSONString(b, sm.Source.Addr)
	b = append(b, `,"dst":`...)
	b = appendJSONString(b, sm.Dest.Addr)
	b = append(b, `,"segments":`...)
	b = strconv.AppendInt(b, int64(segs), 10)
	b = append(b, `,"dc":`...)
	b = strconv.AppendUint(b, uint64(sm.DataCoding), 10)
	b = append(b, `,"esm":`...)
	b = strconv.AppendUint(b, uint64(sm.ESMClass), 10)
	b = append(b, `,"rd":`...)
	b = strconv.AppendUint(b, uint64(sm.RegisteredDelivery), 10)
	if len(sm.ValidityPeriod) > 0 {
		b = append(b, `,"validity":`...)
		b = appendJSONString(b, sm.ValidityPeriod)
	}
	payload := sm.ShortMessage
	if len(payload) == 0 {
		if pl, ok := sm.TLVs.MessagePayload(); ok {
			payload = pl
		}
	}
	data, cc, isPart, err := smpp.UserData(sm.ESMClass, payload, sm.TLVs)
	if err == nil && isPart {
		b = append(b, `,"ref":`...)
		b = strconv.AppendUint(b, uint64(cc.Ref), 10)
		b = append(b, `,"part":`...)
		b = strconv.AppendUint(b, uint64(cc.Seq), 10)
		b = append(b, `,"parts":`...)
		b = strconv.AppendUint(b, uint64(cc.Total), 10)
	}
	b = append(b, `,"text":`...)
	c.textScratch = coding.AppendDecodeReplace(c.textScratch[:0], data, smpp.EncodingOf(sm.DataCoding, 0))
	b = appendJSONString(b, c.textScratch)
	b = append(b, "}\n"...)
	c.logBuf = b
	c.sim.log.write(b)
}

// appendJSONString appends s as a JSON string; invalid UTF-8 is written as
// U+FFFD.
func appendJSONString(b []byte, s []byte) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, "\ufffd"...)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}
