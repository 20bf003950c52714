package smscsim

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/coding"
	"github.com/switchboard-sms/switchboard/smpp/smpptest"
)

// MO is a mobile-originated message to inject: a contact (From) writes to
// one of our numbers (To). It is also the JSON body of POST /mo.
type MO struct {
	// Account is the system_id whose binds get the message; "" means the
	// account whose numbers hold To, or the only account.
	Account string `json:"account,omitempty"`
	From    string `json:"from"`
	To      string `json:"to"`
	Text    string `json:"text"`
	// Encoding is gsm7, ucs2 or latin1; "" picks GSM 7-bit when the text
	// allows, else UCS-2.
	Encoding string `json:"encoding,omitempty"`
	// Method is how a text too long for one message is sent: udh8 (the
	// default), udh16, sar or payload.
	Method string `json:"method,omitempty"`
}

// ErrNoReceiver is returned by InjectMO when the account has no receiver or
// transceiver bound.
var ErrNoReceiver = errors.New("smscsim: no receiver or transceiver bound for the account")

// ErrLost is returned by InjectMO when the connection closed before every
// part was answered.
var ErrLost = errors.New("smscsim: connection closed before the deliver_sm_resp")

func parseEncoding(s string, text string) (coding.Encoding, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return coding.Choose(text), nil
	case "gsm7", "gsm", "default":
		return coding.GSM7, nil
	case "ucs2", "ucs-2", "utf-16":
		return coding.UCS2, nil
	case "latin1", "iso-8859-1":
		return coding.Latin1, nil
	}
	return 0, fmt.Errorf("encoding %q is not gsm7, ucs2 or latin1", s)
}

// addrOf makes an address of a number (international, E.164) or of an
// alphanumeric sender.
func addrOf(s string) smpp.Address {
	s = trimPlus(strings.TrimSpace(s))
	for _, c := range s {
		if c < '0' || c > '9' {
			return smpp.Address{TON: smpp.TONAlphanumeric, Addr: []byte(s)}
		}
	}
	return smpp.Address{TON: smpp.TONInternational, NPI: smpp.NPIE164, Addr: []byte(s)}
}

// buildMO encodes and splits a message into deliver_sm parts.
func buildMO(m MO, refs *coding.RefSource) (*smpptest.Delivery, error) {
	if strings.TrimSpace(m.From) == "" || strings.TrimSpace(m.To) == "" {
		return nil, errors.New("smscsim: MO needs from and to")
	}
	if len(trimPlus(m.From)) > 20 || len(trimPlus(m.To)) > 20 {
		return nil, errors.New("smscsim: MO from and to are at most 20 characters")
	}
	enc, err := parseEncoding(m.Encoding, m.Text)
	if err != nil {
		return nil, fmt.Errorf("smscsim: MO: %w", err)
	}
	meth, err := parseMethod(m.Method)
	if err != nil {
		return nil, fmt.Errorf("smscsim: MO: method %w", err)
	}
	ref := refs.Next(trimPlus(m.From)+">"+trimPlus(m.To), meth)
	parts, err := coding.Split(m.Text, enc, meth, ref)
	if err != nil {
		return nil, fmt.Errorf("smscsim: MO: %w", err)
	}
	d := &smpptest.Delivery{}
	for _, part := range parts {
		sm := smpp.SubmitSM{Source: addrOf(m.From), Dest: addrOf(m.To), DataCoding: smpp.DataCoding(enc, smpp.DataCodingDefault)}
		smpp.SetPart(&sm, part, meth)
		d.Parts = append(d.Parts, smpp.DeliverSM(sm))
	}
	return d, nil
}

// loopbackOf turns an accepted submit_sm into the deliver_sm that answers
// it: from its destination to its source, with the same coding and text
// (a part stays a part: its UDH or sar_* TLVs are kept).
func loopbackOf(sm *smpp.SubmitSM) *smpptest.Delivery {
	p := smpp.DeliverSM{
		Source:       smpp.Address{TON: sm.Dest.TON, NPI: sm.Dest.NPI, Addr: clone(sm.Dest.Addr)},
		Dest:         smpp.Address{TON: sm.Source.TON, NPI: sm.Source.NPI, Addr: clone(sm.Source.Addr)},
		ESMClass:     sm.ESMClass & smpp.ESMClassUDHI,
		DataCoding:   sm.DataCoding,
		ShortMessage: clone(sm.ShortMessage),
	}
	sm.TLVs.Each(func(tag smpp.Tag, v []byte) bool {
		switch tag {
		case smpp.TagSARMsgRefNum, smpp.TagSARTotalSegments, smpp.TagSARSegmentSeqnum, smpp.TagMessagePayload:
			p.TLVs = smpp.AppendTLV(p.TLVs, tag, v)
		}
		return true
	})
	return &smpptest.Delivery{Parts: []smpp.DeliverSM{p}}
}

func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

// Words of generated texts.
var (
	gsmWords = strings.Fields("hi hello thanks ok sure yes no maybe when is the order ready can you call me later " +
		"what time does it open tomorrow please confirm my booking for 2 people at 7pm running 10 min late " +
		"see you soon where do I park is the price still 25€ great that works for me @home")
	ucsWords = strings.Fields("привет спасибо 你好 谢谢 ありがとう مرحبا שלום 👍 😀 🙏 çok teşekkürler cześć dziękuję")
	// stopWords and startWords are the usual opt-out and opt-in keywords.
	stopWords  = []string{"STOP", "Stop", "stop", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}
	startWords = []string{"START", "Start", "UNSTOP", "YES"}
)

// moGen generates an account's mobile-originated traffic.
type moGen struct {
	a    *account
	rng  *rand.Rand
	turn int
}

// next makes the next message.
func (g *moGen) next() MO {
	spec := &g.a.mo
	r := g.rng
	m := MO{
		Account: g.a.id,
		From:    spec.from[r.IntN(len(spec.from))],
		To:      spec.to[r.IntN(len(spec.to))],
	}
	switch {
	case spec.keywords > 0 && r.Float64() < spec.keywords:
		if r.IntN(2) == 0 {
			m.Text = stopWords[r.IntN(len(stopWords))]
		} else {
			m.Text = startWords[r.IntN(len(startWords))]
		}
		return m
	case len(spec.texts) > 0:
		m.Text = spec.texts[r.IntN(len(spec.texts))]
	default:
		ucs := spec.ucs2 > 0 && r.Float64() < spec.ucs2
		long := spec.long > 0 && r.Float64() < spec.long
		m.Text = g.text(ucs, long)
	}
	if coding.Choose(m.Text) != coding.GSM7 {
		m.Encoding = "ucs2"
	}
	meth := spec.methods[g.turn%len(spec.methods)]
	if n, _ := coding.Count(m.Text, coding.Choose(m.Text), meth); n.Segments > 1 || meth == coding.Payload {
		g.turn++
	}
	m.Method = meth.String()
	return m
}

// text generates a text: one message, or 2 to 4 parts when long; with
// UCS-2-only words when ucs.
func (g *moGen) text(ucs, long bool) string {
	r := g.rng
	enc := coding.GSM7
	if ucs {
		enc = coding.UCS2
	}
	single, part := coding.Capacity(enc, coding.UDH16)
	target := 10 + r.IntN(single-20)
	if long {
		target = single + 1 + r.IntN(part*3)
	}
	var b strings.Builder
	for i := 0; ; i++ {
		w := gsmWords[r.IntN(len(gsmWords))]
		if ucs && (i == 0 || r.IntN(2) == 0) {
			w = ucsWords[r.IntN(len(ucsWords))]
		}
		next := b.String()
		if i > 0 {
			next += " "
		}
		next += w
		n, err := coding.Count(next, enc, coding.UDH8)
		if err != nil {
			continue
		}
		if !long && n.Segments > 1 {
			break
		}
		b.Reset()
		b.WriteString(next)
		if n.Units >= target {
			break
		}
	}
	return b.String()
}

// run generates MO messages at the account's rate until stop closes. When
// no receiver is bound nothing is generated (counted as skipped); when it
// falls behind by more than a second it skips ahead rather than bursting.
func (g *moGen) run(stop <-chan struct{}) {
	defer g.a.sim.wg.Done()
	a := g.a
	interval := time.Duration(float64(time.Second) / a.mo.rate)
	if interval <= 0 {
		interval = 1
	}
	t := time.NewTimer(interval)
	defer t.Stop()
	next := time.Now().Add(interval)
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		now := time.Now()
		for !next.After(now) {
			if !a.hasReceiver() {
				a.st.moSkipped.Add(1)
			} else if d, err := buildMO(g.next(), &a.sim.refs); err != nil {
				a.sim.logger.Warn("generated MO not sent", zap.String("system_id", a.id), zap.Error(err))
			} else {
				a.deliver(smpptest.Item{Kind: smpptest.ItemDeliver, Due: a.sim.now(), Delivery: d})
			}
			next = next.Add(interval)
			if now.Sub(next) > time.Second {
				next = now.Add(interval)
			}
		}
		t.Reset(next.Sub(now))
	}
}

// seedFor derives a stream's seed from the simulator's seed and a name,
// the same in every process.
func seedFor(seed uint64, name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return seed ^ h.Sum64()
}
