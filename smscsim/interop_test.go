package smscsim_test

// gosmpp v0.3.1, an independent SMPP implementation, as the ESME: it binds,
// is refused with a wrong password, submits (one message throttled by the
// source limit), receives receipts whose ids are written in another base
// than its responses', and receives an injected MO.

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp"
	"github.com/linxGnu/gosmpp/data"
	gpdu "github.com/linxGnu/gosmpp/pdu"

	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smscsim"
)

func TestGosmppClient(t *testing.T) {
	t.Parallel()
	s := start(t, smscsim.Config{Accounts: []smscsim.AccountConfig{{
		SystemID: "gosmpp", Password: "secret",
		MessageID: "hex:8", ReceiptID: "decimal", IDStart: 0xABC0,
		Rate:     smscsim.RateConfig{Source: 2},
		Receipts: smscsim.ReceiptConfig{Delay: "50ms", Outcomes: "DELIVRD:100"},
		Numbers:  []string{"14155550100"},
	}}})

	bad := gosmpp.Auth{SMSC: s.Addr(""), SystemID: "gosmpp", Password: "wrong"}
	_, err := gosmpp.NewSession(gosmpp.TXConnector(gosmpp.NonTLSDialer, bad), gosmpp.Settings{ReadTimeout: 10 * time.Second}, 0)
	if be, ok := err.(gosmpp.BindError); !ok || be.CommandStatus != data.ESME_RINVPASWD {
		t.Fatalf("bind with a wrong password: %v", err)
	}

	var (
		mu       sync.Mutex
		resps    = map[int32]string{}
		receipts []string
		mos      []string
		changed  = make(chan struct{}, 100)
	)
	sess, err := gosmpp.NewSession(gosmpp.TRXConnector(gosmpp.NonTLSDialer, gosmpp.Auth{SMSC: s.Addr(""), SystemID: "gosmpp", Password: "secret"}),
		gosmpp.Settings{
			ReadTimeout: 10 * time.Second,
			OnPDU: func(p gpdu.PDU, responded bool) {
				mu.Lock()
				defer mu.Unlock()
				switch p := p.(type) {
				case *gpdu.SubmitSMResp:
					resps[p.SequenceNumber] = fmt.Sprintf("%v/%s", p.CommandStatus, p.MessageID)
				case *gpdu.DeliverSM:
					text, _ := p.Message.GetMessage()
					if p.EsmClass&4 != 0 {
						rid := ""
						if f, ok := p.OptionalParameters[gpdu.TagReceiptedMessageID]; ok {
							rid = strings.TrimRight(f.String(), "\x00")
						}
						receipts = append(receipts, rid+"|"+text)
					} else {
						mos = append(mos, fmt.Sprintf("%s>%s:%s", p.SourceAddr.Address(), p.DestAddr.Address(), text))
					}
				}
				select {
				case changed <- struct{}{}:
				default:
				}
			},
			OnSubmitError: func(p gpdu.PDU, err error) { t.Errorf("gosmpp submit error: %v", err) },
		}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if id := sess.Transceiver().SystemID(); id != smscsim.DefaultSystemID {
		t.Fatalf("gosmpp saw system_id %q", id)
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			mu.Lock()
			ok := cond()
			mu.Unlock()
			if ok {
				return
			}
			select {
			case <-changed:
			case <-time.After(10 * time.Millisecond):
			case <-deadline:
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	var seqs []int32
	for i := range 3 {
		sm := gpdu.NewSubmitSM().(*gpdu.SubmitSM)
		src, _ := gpdu.NewAddressWithTonNpiAddr(1, 1, "14155550100")
		dst, _ := gpdu.NewAddressWithTonNpiAddr(1, 1, "44770090000"+strconv.Itoa(i))
		sm.SourceAddr, sm.DestAddr, sm.RegisteredDelivery = src, dst, 1
		if sm.Message, err = gpdu.NewShortMessage("Hello from gosmpp " + strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, sm.SequenceNumber)
		if err := sess.Transceiver().Submit(sm); err != nil {
			t.Fatal(err)
		}
	}
	wait("3 responses and 2 receipts", func() bool { return len(resps) == 3 && len(receipts) == 2 })
	mu.Lock()
	var got []string
	for _, sq := range seqs {
		got = append(got, resps[sq])
	}
	rc := slices.Clone(receipts)
	mu.Unlock()
	if want := []string{"ESME_ROK/0000abc0", "ESME_ROK/0000abc1", "ESME_RTHROTTLED/"}; !slices.Equal(got, want) {
		t.Fatalf("responses %q, want %q", got, want)
	}
	slices.Sort(rc)
	// Receipt ids in decimal: 0xabc0 = 43968.
	if !strings.HasPrefix(rc[0], "43968|id:43968 sub:001 dlvrd:001 ") || !strings.Contains(rc[0], "stat:DELIVRD err:000 text:Hello from gosmpp 0") ||
		!strings.HasPrefix(rc[1], "43969|id:43969 ") {
		t.Fatalf("receipts as gosmpp saw them: %q", rc)
	}

	sts, err := s.InjectMO(ctx(t), smscsim.MO{From: "447700900009", To: "14155550100", Text: "STOP"})
	if err != nil || !slices.Equal(sts, []smpp.Status{smpp.StatusOK}) {
		t.Fatalf("MO: %v %v", sts, err)
	}
	wait("the MO", func() bool { return len(mos) == 1 })
	mu.Lock()
	mo := mos[0]
	mu.Unlock()
	if mo != "447700900009>14155550100:STOP" {
		t.Fatalf("MO as gosmpp saw it: %q", mo)
	}
	waitStats(t, s, "the receipts' responses", func(st smscsim.Stats) bool { return st.ReceiptResps == 2 })
	ar := report(t, s, "gosmpp")
	if ar.Accepted != 2 || ar.ThrottledSource != 1 || ar.ReceiptResps["ESME_ROK"] != 2 || ar.MOResps["ESME_ROK"] != 1 || ar.BindsRefused != 1 {
		t.Fatalf("report %+v", ar)
	}
}
