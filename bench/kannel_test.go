package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/internal/testenv"
)

// The kannel scenario end to end: Kannel's boxes (the Debian package)
// against the in-process simulator; every message must come back as a
// delivered DLR matched to it.
func TestKannelScenario(t *testing.T) {
	bearerbox := testenv.Tool(t, "bearerbox", "kannel")
	sc := Defaults(ScenarioKannel, true)
	sc.Kannel.Bearerbox, sc.Kannel.Smsbox = bearerbox, filepath.Join(filepath.Dir(bearerbox), "smsbox")
	sc.E2E.Messages, sc.E2E.Concurrency = 300, 8
	sc.Out = t.TempDir()
	rep, err := Run(context.Background(), sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, ok := rep.Results.(*KannelResults)
	if !ok {
		t.Fatalf("results are %T", rep.Results)
	}
	if res.Accepted != 300 || res.Delivered != 300 {
		t.Fatalf("accepted %d, delivered %d of 300; DLRs %v, HTTP errors %v", res.Accepted, res.Delivered, res.DLRs, res.HTTPErrors)
	}
	if res.DLRs["8 smsc ack"] != 300 || res.Unmatched != 0 || res.Duplicates != 0 {
		t.Errorf("DLRs %v, unmatched %d, duplicates %d", res.DLRs, res.Unmatched, res.Duplicates)
	}
	if res.Segments < 300 || res.CarrierAccepted != res.Segments {
		t.Errorf("segments: the texts need %d, the carrier accepted %d", res.Segments, res.CarrierAccepted)
	}
	if !rep.OK() {
		t.Errorf("checks failed: %+v", rep.Checks)
	}
	end := res.Stages[len(res.Stages)-1]
	if end.Count != 300 || end.P50MS <= 0 || end.P99MS < end.P50MS {
		t.Errorf("end to end latency: %+v", end)
	}
	if res.AcceptRate <= 0 || res.DeliveredRate <= 0 {
		t.Errorf("rates: accepted %v, delivered %v", res.AcceptRate, res.DeliveredRate)
	}
	if rep.CPU == nil || rep.CPU.Engine.Seconds == nil || rep.CPU.Bench.Seconds == nil {
		t.Fatalf("CPU not measured: %+v", rep.CPU)
	}
	if v, ok := rep.Metric("CPU Kannel"); !ok || v <= 0 {
		t.Errorf("CPU Kannel %v µs/msg (present %v)", v, ok)
	}
	for _, f := range []string{"report.json", "report.html", "summary.txt", "scenario.yaml"} {
		if _, err := os.Stat(sc.Out + "/" + f); err != nil {
			t.Error(err)
		}
	}
}

// The receiver matches each DLR to its message by id, counts the first
// delivered DLR of each message once, and reports a missing one.
func TestDLRSinkMatchesByID(t *testing.T) {
	sink, err := startDLRSink(3, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	defer sink.close()
	get := func(typ int, id string) {
		t.Helper()
		u := strings.Replace(sink.url, "%d", fmt.Sprint(typ), 1) + id
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s", u, resp.Status)
		}
	}
	get(dlrSMSCAck, "0")
	get(dlrDelivered, "0")
	get(dlrDelivered, "0") // a duplicate
	get(dlrDelivered, "2")
	get(dlrDelivered, "7") // no such message
	get(dlrDelivered, "x")
	if sink.waitDelivered(context.Background(), 3, 200*time.Millisecond, nil) {
		t.Fatal("waitDelivered said all 3 arrived; message 1 has none")
	}
	if got := sink.delivered.Load(); got != 2 {
		t.Errorf("delivered %d, want 2", got)
	}
	if sink.msgs[0].delivered.Load() == 0 || sink.msgs[0].acked.Load() == 0 || sink.msgs[1].delivered.Load() != 0 || sink.msgs[2].delivered.Load() == 0 {
		t.Errorf("per message: %d/%d, %d, %d", sink.msgs[0].acked.Load(), sink.msgs[0].delivered.Load(), sink.msgs[1].delivered.Load(), sink.msgs[2].delivered.Load())
	}
	if sink.dups != 1 || sink.unmatched != 2 || sink.types["1 delivered"] != 5 || sink.types["8 smsc ack"] != 1 {
		t.Errorf("dups %d, unmatched %d, types %v", sink.dups, sink.unmatched, sink.types)
	}
	get(dlrDelivered, "1")
	if !sink.waitDelivered(context.Background(), 3, 5*time.Second, nil) {
		t.Fatal("the third delivered DLR was not seen")
	}
}

// The config the scenario writes: one smsc group per bind, the carrier's
// window, the simulator's decimal ids, DLRs in memory.
func TestKannelConfig(t *testing.T) {
	c := kannelConfig{adminAddr: "127.0.0.1:13000", adminPass: "a", smsboxAddr: "127.0.0.1:13001", sendsmsAddr: "127.0.0.1:13013",
		sendsmsPass: "s", simHost: "127.0.0.1", simPort: "2775", binds: 3, window: 200, tps: 600, logLevel: 2, dir: "/tmp/k"}
	conf := c.render()
	for _, want := range []string{
		"admin-port = 13000\n", "smsbox-port = 13001\n", "sendsms-port = 13013\n", "bearerbox-port = 13001\n",
		"dlr-storage = internal\n", "max-pending-submits = 200\n", "msg-id-type = 0x00\n", "throughput = 200.000\n",
		"transceiver-mode = true\n", "port = 2775\n", `smsc-username = "switchboard"`, `username = "smppbench"`,
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("kannel.conf lacks %q:\n%s", want, conf)
		}
	}
	if n := strings.Count(conf, "group = smsc\n"); n != 3 {
		t.Errorf("%d smsc groups, want 3", n)
	}
	if strings.Contains(conf, "store-file") {
		t.Error("a store-file is written: the comparison says Kannel keeps nothing on disk")
	}
}

// Binds are online when bearerbox's status.txt says so, line by line.
func TestOnlineBinds(t *testing.T) {
	status := `Status: running, uptime 0d 0h 0m 2s

Box connections:
    smsbox:(none), IP 127.0.0.1 (0 queued), (on-line 0d 0h 0m 2s)

SMSC connections:
    sim[sim-1]    SMPP:127.0.0.1:40205/40205:switchboard: (online 2s, rcvd: sms 0 (0.00,0.00,0.00) / dlr 0, sent: sms 0, failed 0, queued 0 msgs)
    sim[sim-2]    SMPP:127.0.0.1:40205/40205:switchboard: (connecting, rcvd: sms 0 (0.00,0.00,0.00) / dlr 0, sent: sms 0, failed 0, queued 0 msgs)
`
	if n := onlineBinds(status); n != 1 {
		t.Errorf("online binds %d, want 1", n)
	}
	if n := onlineBinds(strings.Replace(status, "(connecting", "(online 1s", 1)); n != 2 {
		t.Errorf("online binds %d, want 2", n)
	}
}

func TestGSMSegments(t *testing.T) {
	for _, c := range []struct{ n, want int }{{1, 1}, {160, 1}, {161, 2}, {200, 2}, {306, 2}, {307, 3}} {
		if got := gsmSegments(strings.Repeat("a", c.n)); got != c.want {
			t.Errorf("%d characters: %d segments, want %d", c.n, got, c.want)
		}
	}
}

// The same flag line runs e2e and kannel: every e2e traffic and carrier
// flag is a kannel flag setting the same field.
func TestKannelTakesE2EFlags(t *testing.T) {
	line := []string{"--messages", "20000", "--concurrency", "64", "--numbers", "40", "--number-rate", "1000", "--number-burst", "100",
		"--carrier-tps", "50000", "--carrier-window", "200", "--latency", "0ms", "--receipt-delay", "0ms", "--long", "0", "--quiet"}
	e, err := ParseArgs(append([]string{"e2e"}, line...), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseArgs(append([]string{"kannel"}, line...), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if k.E2E != e.E2E || k.Carrier != e.Carrier || k.Sim != e.Sim {
		t.Errorf("kannel %+v %+v %+v\ne2e %+v %+v %+v", k.E2E, k.Carrier, k.Sim, e.E2E, e.Carrier, e.Sim)
	}
	if _, err := ParseArgs([]string{"kannel", "--batch", "100"}, os.Stderr); err == nil {
		t.Error("kannel took --batch (sendsms has one message a request)")
	}
}
