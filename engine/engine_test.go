package engine

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/engine/config"
	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/internal/testenv"
	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/coding"
	"github.com/switchboard-sms/switchboard/smpp/smpptest"
)

// testEngine runs an engine in-process against a fresh database, a unique
// Redis prefix and the given carrier address.
type testEngine struct {
	*Engine
	cancel context.CancelFunc
	done   chan error
	url    string // http base URL
	dbURL  string
}

func engineConfig(t *testing.T, dbURL, carrierAddr string, mod func(*config.Config)) *config.Config {
	t.Helper()
	_, prefix := testenv.Redis(t)
	host, port, _ := net.SplitHostPort(carrierAddr)
	yaml := fmt.Sprintf(`
http: {listen: "127.0.0.1:0"}
log: {level: warn}
postgres: {url: %q}
redis: {url: %q, prefix: %q}
engine: {retry_min: 200ms, lease: 10s, drain_timeout: 3s, instance_id: %q}
rate_classes:
  - {name: shared, rate: 50}
  - {name: dedicated, rate: 100}
carriers:
  - {name: sim, host: %s, port: %s, system_id: sb, window: 50, tps: 1000,
     message_ids: {submit: decimal}, reconnect_min: 20ms, reconnect_max: 200ms}
`, dbURL, testenv.RedisURL(), prefix, testenv.UniqueName("engine-"), host, port)
	cfg, err := config.Parse([]byte(yaml), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if mod != nil {
		mod(cfg)
	}
	return cfg
}

// startEngine starts an engine on cfg and waits until it is ready; its log
// lines are kept for the test's failure message (startEngineLogged shows
// them to the test).
func startEngine(t *testing.T, cfg *config.Config) *testEngine {
	t.Helper()
	return startEngineLogged(t, cfg, &testenv.LogBuffer{})
}

func (te *testEngine) stop() {
	te.cancel()
	<-te.done
}

// The whole path in one process: a queued message is submitted, its receipt
// delivers it; a reply lands in the same thread.
func TestEngineSendReceiptReply(t *testing.T) {
	t.Parallel()
	srv := smpptest.Start(t, smpptest.Config{Receipts: true})
	te := startEngine(t, engineConfig(t, testenv.NewDatabase(t), srv.Addr(), nil))
	ws := testenv.Seed(t, te.store, "+14155552671")
	ctx := context.Background()
	long := strings.Repeat("long message with emoji 😀 ", 8)
	var ids []inbox.MessageID
	for _, text := range []string{"hello", long} {
		res, err := te.store.Enqueue(ctx, []inbox.OutboundRequest{{Workspace: ws, To: "+447911123456", Body: text, Encoding: encodingOf(text), Segments: segmentsOf(text)}})
		if err != nil || res[0].Err != nil {
			t.Fatal(err, res)
		}
		ids = append(ids, res[0].ID)
	}
	te.dispatcher.Kick()
	for _, id := range ids {
		m := testenv.WaitStatus(t, te.store, ws, id, inbox.StatusDelivered)
		if len(m.SegmentInfo) != m.Segments {
			t.Fatalf("message %d: %d segment ids for %d segments", id, len(m.SegmentInfo), m.Segments)
		}
	}
	st, err := srv.Deliver(ctx, &smpp.DeliverSM{
		Source: smpp.Address{TON: 1, NPI: 1, Addr: []byte("447911123456")},
		Dest:   smpp.Address{TON: 1, NPI: 1, Addr: []byte("14155552671")}, ShortMessage: []byte("thanks!"),
	})
	if err != nil || st != smpp.StatusOK {
		t.Fatal(st, err)
	}
	m, _ := te.store.GetMessage(ctx, ws, ids[0])
	msgs, _, err := te.store.ListMessages(ctx, ws, m.Thread, inbox.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 3 || msgs[2].Direction != inbox.DirectionIn || msgs[2].Body != "thanks!" {
		var b strings.Builder
		for _, m := range msgs {
			b.WriteString(strconv.Itoa(int(m.ID)) + " " + string(m.Direction) + " " + m.Body + "\n")
		}
		t.Fatalf("thread:\n%s", b.String())
	}
	// The engine folds the usage rollups in the background.
	testenv.Eventually(t, "usage counts the two delivered and the reply", func() bool {
		rows, err := te.store.Usage(ctx, inbox.UsageQuery{Workspace: ws, From: time.Now(), To: time.Now(), Granularity: inbox.Daily})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, r := range rows {
			got[r.Status] += r.Messages
		}
		return len(got) == 2 && got["delivered"] == 2 && got["received"] == 1
	})
}

func encodingOf(text string) string { return coding.Choose(text).String() }

func segmentsOf(text string) int {
	info, err := coding.Count(text, coding.Choose(text), coding.UDH8)
	if err != nil {
		panic(err)
	}
	return info.Segments
}

// bind_mode transmitter_receiver: the lease slot holds a transmitter, which
// submits, and a receiver, which gets the receipt (the carrier pool never
// submits on a receiver).
func TestEngineTransmitterReceiver(t *testing.T) {
	t.Parallel()
	srv := smpptest.Start(t, smpptest.Config{Receipts: true})
	te := startEngine(t, engineConfig(t, testenv.NewDatabase(t), srv.Addr(), func(c *config.Config) {
		c.Carriers[0].BindMode = "transmitter_receiver"
	}))
	ws := testenv.Seed(t, te.store, "+14155552671")
	id := enqueue(t, te.store, ws, "+447911123456", "paired")
	testenv.WaitStatus(t, te.store, ws, id, inbox.StatusDelivered)
	var types []string
	submitted := map[string]int64{}
	for _, b := range te.binds() {
		types = append(types, fmt.Sprintf("%d/%s", b.Slot, b.Type))
		submitted[b.Type] += b.Submitted
	}
	if fmt.Sprint(types) != "[0/receiver 0/transmitter]" || submitted["transmitter"] != 1 || submitted["receiver"] != 0 {
		t.Fatalf("binds %v, submitted %v; want one slot of a receiver and a transmitter that submitted the message", types, submitted)
	}
	if st := srv.Stats(); st.Binds != 2 || st.Delivers != 1 || st.DeliverResps != 1 {
		t.Fatalf("carrier saw %d binds, %d deliver_sm, %d answered; want 2, 1, 1", st.Binds, st.Delivers, st.DeliverResps)
	}
}

// /metrics exports the binds, the dispatcher, the carrier accounts' rates
// and the queue.
func TestEngineMetrics(t *testing.T) {
	t.Parallel()
	srv := smpptest.Start(t, smpptest.Config{Receipts: true})
	te := startEngine(t, engineConfig(t, testenv.NewDatabase(t), srv.Addr(), nil))
	ws := testenv.Seed(t, te.store, "+14155552671")
	id := enqueue(t, te.store, ws, "+447911123456", "metrics")
	testenv.WaitStatus(t, te.store, ws, id, inbox.StatusDelivered)
	resp, err := http.Get(te.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`switchboard_bind_up{carrier="sim",slot="0",type="transceiver"} 1`,
		`switchboard_bind_responses_total{carrier="sim",slot="0",status="ESME_ROK",type="transceiver"}`,
		`switchboard_dispatch_total{event="accepted"} 1`,
		`switchboard_inbound_total{kind="receipt"} 1`,
		`switchboard_queue_messages 0`,
		`switchboard_throttle_healthy 1`,
		`switchboard_bind_response_seconds_bucket`,
		`switchboard_carrier_account_rate{carrier="sim"}`,
		`switchboard_carrier_effective_rate{carrier="sim"}`,
		`switchboard_webhook_endpoints 0`,
		`switchboard_webhook_deliveries_total{result="delivered"} 0`,
		`switchboard_feed_reads_total{kind="shared"}`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// http.pprof_listen serves the runtime profiles on a listener of its own;
// the API's listener never serves them.
func TestPprofListener(t *testing.T) {
	t.Parallel()
	srv := smpptest.Start(t, smpptest.Config{})
	dbURL := testenv.NewDatabase(t)
	get := func(url string) int {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	te := startEngine(t, engineConfig(t, dbURL, srv.Addr(), func(c *config.Config) { c.HTTP.PprofListen = "127.0.0.1:0" }))
	if te.PprofAddr() == nil {
		t.Fatal("pprof_listen set, no profile listener")
	}
	if code := get("http://" + te.PprofAddr().String() + "/debug/pprof/goroutine?debug=1"); code != http.StatusOK {
		t.Fatalf("goroutine profile: HTTP %d", code)
	}
	if code := get(te.url + "/debug/pprof/goroutine?debug=1"); code == http.StatusOK {
		t.Fatal("the API listener serves profiles")
	}
	off := startEngine(t, engineConfig(t, dbURL, srv.Addr(), nil))
	if off.PprofAddr() != nil {
		t.Fatalf("pprof_listen unset, profiles served on %v", off.PprofAddr())
	}
}
