package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/engine/config"
	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/internal/testenv"
	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/smpptest"
)

// longTexts are texts of 1, 2 and 7 segments in GSM 7-bit and in UCS-2.
func longTexts(t *testing.T) []string {
	t.Helper()
	texts := []string{
		strings.Repeat("a", 150),  // GSM, 1
		strings.Repeat("b", 200),  // GSM, 2 (153 per part)
		strings.Repeat("c", 1000), // GSM, 7
		strings.Repeat("д", 60),   // UCS-2, 1
		strings.Repeat("ж", 100),  // UCS-2, 2 (67 per part)
		strings.Repeat("щ", 440),  // UCS-2, 7
	}
	want := []int{1, 2, 7, 1, 2, 7}
	for i, s := range texts {
		if got := segmentsOf(s); got != want[i] {
			t.Fatalf("text %d: %d segments, want %d", i, got, want[i])
		}
	}
	return texts
}

// wireParts is how many submit_sm a message of segs segments takes with
// method.
func wireParts(method string, segs int) int {
	if method == "payload" {
		return 1
	}
	return segs
}

// Every long-message method, with the receipt after or before the
// submit_sm_resp, in GSM 7-bit and UCS-2, for 1, 2 and 7 segments: every
// message ends delivered, with one part per submit_sm, and the carrier saw
// exactly that many submit_sm. A message sent whole in message_payload is
// one part on the wire and still counts its segments.
func TestLongMessageMethods(t *testing.T) {
	t.Parallel()
	texts := longTexts(t)
	for _, method := range []string{"udh8", "udh16", "sar", "payload"} {
		for _, first := range []bool{false, true} {
			name := method + "/receipt-after"
			if first {
				name = method + "/receipt-first"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				before := 0.0
				if first {
					before = 1.0
				}
				sim := testenv.StartSim(t, fmt.Sprintf(`accounts: [{system_id: sb, password: "", latency: 5ms,
  receipts: {delay: 1ms, before_resp: %v, before_resp_gap: 100ms}}]`, before))
				cfg := engineConfig(t, testenv.NewDatabase(t), sim.Addr(""), func(c *config.Config) {
					c.Carriers[0].LongMessage = method
				})
				te := startEngine(t, cfg)
				ws := testenv.Seed(t, te.store, "+14155552671")
				var ids []inbox.MessageID
				wantSubmits := 0
				for i, text := range texts {
					ids = append(ids, enqueue(t, te.store, ws, fmt.Sprintf("+4479111234%02d", i), text))
					wantSubmits += wireParts(method, segmentsOf(text))
				}
				for i, id := range ids {
					m := testenv.WaitStatus(t, te.store, ws, id, inbox.StatusDelivered)
					segs := segmentsOf(texts[i])
					if m.Segments != segs || len(m.SegmentInfo) != wireParts(method, segs) {
						t.Fatalf("text %d: %d segments, %d parts; want %d segments, %d parts", i, m.Segments, len(m.SegmentInfo), segs, wireParts(method, segs))
					}
					for _, p := range m.SegmentInfo {
						if p.ReceiptStatus != inbox.ReceiptDelivered {
							t.Fatalf("text %d part %d: receipt %q", i, p.Index, p.ReceiptStatus)
						}
					}
				}
				if st := sim.Stats(); st.Submits != int64(wantSubmits) || st.Accepted != int64(wantSubmits) {
					t.Fatalf("carrier saw %d submit_sm (%d accepted), want %d", st.Submits, st.Accepted, wantSubmits)
				}
				if first && te.router.Stats().ReceiptsUnmatched == 0 {
					t.Fatal("no receipt arrived before its submit result")
				}
			})
		}
	}
}

// Each long-message method when the carrier refuses the first submit_sm
// with 0x58, and when the link drops as the first submit_sm arrives (its
// outcome unknown): the refused or lost part is sent again, the message
// ends delivered with the right parts, and nothing else is sent twice.
func TestLongMessageMethodsRetried(t *testing.T) {
	t.Parallel()
	for _, method := range []string{"udh8", "udh16", "sar", "payload"} {
		for _, fault := range []string{"throttled", "drop"} {
			t.Run(method+"/"+fault, func(t *testing.T) {
				t.Parallel()
				srv := smpptest.Start(t, smpptest.Config{Receipts: true, ReceiptDelay: time.Millisecond})
				cfg := engineConfig(t, testenv.NewDatabase(t), srv.Addr(), func(c *config.Config) {
					c.Carriers[0].LongMessage = method
				})
				te := startEngine(t, cfg)
				ws := testenv.Seed(t, te.store, "+14155552671")
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := srv.WaitFor(ctx, func(s smpptest.Stats) bool { return s.Binds > 0 }); err != nil {
					t.Fatal("the engine did not bind")
				}
				switch fault {
				case "throttled":
					srv.FailNext(1, smpp.StatusTHROTTLED)
				case "drop":
					srv.DropAfter(1)
				}
				text := strings.Repeat("щ", 440) // UCS-2, 7 segments
				id := enqueue(t, te.store, ws, "+447911123400", text)
				m := testenv.WaitStatus(t, te.store, ws, id, inbox.StatusDelivered)
				parts := wireParts(method, 7)
				if m.Segments != 7 || len(m.SegmentInfo) != parts || m.Attempts < 2 {
					t.Fatalf("%d segments, %d parts, %d attempts; want 7, %d, at least 2", m.Segments, len(m.SegmentInfo), m.Attempts, parts)
				}
				st := srv.Stats()
				switch fault {
				case "throttled":
					// The refused submit and one accepted submit per part.
					if st.Throttled != 1 || st.SubmitsOK != int64(parts) || st.Submits != int64(parts)+1 {
						t.Fatalf("carrier stats %+v; want 1 throttled and %d accepted", st, parts)
					}
				case "drop":
					// The submit lost with the link is not counted; every part
					// is accepted once.
					if st.SubmitsOK != int64(parts) || st.Submits != int64(parts) {
						t.Fatalf("carrier stats %+v; want %d accepted", st, parts)
					}
				}
			})
		}
	}
}
