package smscsim_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smscsim"
)

// TestExampleConfig loads configs/smscsim.yaml, checks a few of its values,
// starts it on free ports and binds to every account.
func TestExampleConfig(t *testing.T) {
	t.Parallel()
	cfg, err := smscsim.LoadConfig("../configs/smscsim.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Listeners) != 3 || len(cfg.Accounts) != 4 || cfg.Accounts[0].Rate.Sources[0].Rate != 3 ||
		cfg.Accounts[2].Rate.Mode != smscsim.RateSliding || cfg.Accounts[2].Rate.Interval != time.Second || cfg.Accounts[2].Rate.Source != 1 ||
		cfg.Accounts[0].Receipts.BeforeRespGap != 50*time.Millisecond || cfg.Accounts[0].Faults.DropEvery != 30*time.Minute {
		t.Fatalf("loaded %+v", cfg)
	}
	if err := cfg.Check(); err != nil {
		t.Fatal(err)
	}
	// Sliding values that are fine: "Sliding" in any case, 0 (no limit).
	ok, err := smscsim.ParseConfig([]byte("accounts:\n  - system_id: a\n    rate: {mode: Sliding, interval: 250ms, account: 0, source: 3}\n"))
	if err != nil || ok.Check() != nil {
		t.Fatalf("sliding config: %v %v", err, ok.Check())
	}
	dir := t.TempDir()
	cfg.Stats, cfg.Report, cfg.Log = "127.0.0.1:0", filepath.Join(dir, "report.json"), filepath.Join(dir, "log.jsonl")
	for i := range cfg.Listeners {
		cfg.Listeners[i].Addr = "127.0.0.1:0"
	}
	s := start(t, cfg)
	sess := session(t, s.Addr("tls"), func(c *smpp.SessionConfig) {
		c.SystemID, c.Password, c.TLS = "switchboard", "s3cret", tlsConfig(s)
	})
	r, err := sess.Submit(ctx(t), msg("14155550100", "447700900001", 0, "hello"))
	if err != nil || r.MessageID != "00000f4240" { // id_start 1000000 in hex:10
		t.Fatalf("submit: %q %v", r.MessageID, err)
	}
	c := dial(t, s.Addr("partner-only"))
	if st := c.Bind(smpp.BindTransceiver, "partner", "p4rtner"); st != smpp.StatusOK {
		t.Fatal(st)
	}
	b := dial(t, s.Addr("plain"))
	if st := b.Bind(smpp.BindTransceiver, "bench", "bench"); st != smpp.StatusOK {
		t.Fatal(st)
	}
	// The strict account: one per second per long code, three for the
	// toll-free number, back to back.
	st := dial(t, s.Addr("plain"))
	if s := st.Bind(smpp.BindTransceiver, "strict", "strict"); s != smpp.StatusOK {
		t.Fatal(s)
	}
	for range 4 {
		st.Send(msg("14155550100", "447700900001", 0, "x"))
		st.Send(msg("18005550100", "447700900001", 0, "x"))
	}
	st.collect(8, 0, 0, ioTimeout)
	ar := report(t, s, "strict")
	ls, _ := ar.Source("14155550100")
	tf, _ := ar.Source("18005550100")
	// Whatever the scheduling: never two from the long code in a second,
	// nor four from the toll-free number.
	if ar.RateMode != "sliding" || ar.IntervalMS != 1000 || ls.Accepted+ls.Throttled != 4 || ls.MaxInInterval != 1 ||
		tf.Accepted+tf.Throttled != 4 || tf.MaxInInterval > 3 || (ls.Accepted > 1 && ls.TightestMS < 1000) {
		t.Fatalf("strict: %+v", ar)
	}
}

// TestConfigErrors: unknown fields and bad values are reported with the
// field's path (and the line, for YAML).
func TestConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		yaml string
		want []string
	}{
		{"accounts:\n  - system_id: a\n    windw: 3\n", []string{`line 3: accounts[0].windw: unknown field "windw"`}},
		{"accounts:\n  - system_id: a\n    faults:\n      drop_every: soon\n", []string{"line 4: accounts[0].faults.drop_every:", "time.Duration"}},
		{"accounts:\n  - system_id: a\n    latency: 80%:10ms,15%:1s\n    rate: {source: -1}\n", []string{
			"accounts[0].latency:", "add up to 95%", "accounts[0].rate.source: must be ≥ 0"}},
		{"accounts:\n  - system_id: a\n    receipts: {outcomes: \"DELIVERED:50,LOST:50\"}\n    message_id: base64\n", []string{
			"accounts[0].receipts.outcomes:", `"LOST" is not a receipt stat`, "accounts[0].message_id:"}},
		{"accounts:\n  - system_id: a\n  - system_id: a\n", []string{"accounts[1].system_id: \"a\" is already"}},
		{"accounts:\n  - password: x\n", []string{"accounts[0].system_id: required"}},
		{"listeners:\n  - addr: nowhere\n    accounts: [ghost]\naccounts:\n  - system_id: a\n", []string{
			"listeners[0].addr: \"nowhere\" is not host:port", `listeners[0].accounts[0]: no account has system_id "ghost"`}},
		{"accounts:\n  - system_id: a\n    mo: {rate: 1}\n", []string{"accounts[0].mo.from: required"}},
		{"accounts:\n  - system_id: a\n    faults: {mute_every: 1s}\n", []string{"mute_every and mute_for go together"}},
		{"accounts:\n  - system_id: a\n    loopback: {numbers: [\"5..3\"]}\n", []string{"accounts[0].loopback.numbers:", "ends before"}},
		{"accounts:\n  - system_id: a\n    rate: {mode: fast}\n", []string{`accounts[0].rate.mode: must be bucket or sliding, got "fast"`}},
		{"accounts:\n  - system_id: a\n    rate: {interval: 2s, source: 1}\n", []string{"accounts[0].rate.interval: only with mode: sliding"}},
		{"accounts:\n  - system_id: a\n    rate: {mode: sliding, interval: -1s}\n", []string{"accounts[0].rate.interval: must be > 0"}},
		{"accounts:\n  - system_id: a\n    rate:\n      mode: sliding\n      interval: soon\n", []string{"line 5: accounts[0].rate.interval:", "time.Duration"}},
		{"accounts:\n  - system_id: a\n    rate: {mode: sliding, account: 2.5, source: -1}\n", []string{
			"accounts[0].rate.account: must be a whole number of segments per interval in sliding mode", "got 2.5",
			"accounts[0].rate.source: must be a whole number"}},
		{"accounts:\n  - system_id: a\n    rate: {mode: sliding, account: 20, account_burst: 20, source: 1, source_burst: 2}\n", []string{
			"accounts[0].rate.account_burst: not used in sliding mode", "accounts[0].rate.source_burst: not used in sliding mode"}},
		{"accounts:\n  - system_id: a\n    rate:\n      mode: sliding\n      sources: [{numbers: [\"1\"], rate: 0.5, burst: 3}]\n", []string{
			"accounts[0].rate.sources[0].rate: must be a whole number", "accounts[0].rate.sources[0].burst: not used in sliding mode"}},
		{"accounts:\n  - system_id: a\n    rate: {mode: sliding, source: 1e9}\n", []string{"accounts[0].rate.source:", "1 to 10000000"}},
		// One problem for each step of an account's checks, each under its path.
		{"accounts:\n  - system_id: a\n    password: longer-than-8\n    bind_types: [tx, both]\n    max_binds: -1\n    window: -2\n" +
			"    receipt_id: base64\n    receipts: {before_resp: 2, before_resp_gap: -1s}\n    numbers: [\"9..1\"]\n" +
			"    mo: {methods: [smoke], ucs2: 3}\n    faults: {fail: \"x\", drop_after_pdus: -1}\n", []string{
			"accounts[0].password: longer than 8", `accounts[0].bind_types[1]: "both" is not`, "accounts[0].max_binds: must be ≥ 0",
			"accounts[0].window: must be ≥ 0", "accounts[0].receipt_id:", "accounts[0].receipts.before_resp: must be a fraction",
			"accounts[0].receipts.before_resp_gap: must be ≥ 0", "accounts[0].numbers:", `accounts[0].mo.methods[0]: "smoke" is not`,
			"accounts[0].mo.ucs2: must be a fraction", "accounts[0].faults.fail:", "accounts[0].faults.drop_after_pdus: must be ≥ 0"}},
		{"", []string{"empty"}},
	} {
		cfg, err := smscsim.ParseConfig([]byte(tc.yaml))
		if err == nil {
			err = cfg.Check()
		}
		if err == nil {
			t.Errorf("%q: no error", tc.yaml)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q lacks %q", tc.yaml, err, w)
			}
		}
	}
	if _, err := smscsim.LoadConfig("testdata/nope.yaml"); err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

// TestReportAndLog: Close writes the report file; the JSONL log holds one
// line per accepted message, parts included, with its decoded text.
func TestReportAndLog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := oneAccount(func(a *smscsim.AccountConfig) { a.Rate.Source = 2; a.MessageID = "hex" })
	cfg.Report, cfg.Log = filepath.Join(dir, "report.json"), filepath.Join(dir, "log.jsonl")
	cfg.Listeners = []smscsim.ListenerConfig{{Addr: "127.0.0.1:0"}}
	s, err := smscsim.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, s.Addr("")).mustBind(smpp.BindTransceiver)
	for _, text := range []string{"hello \"world\"", "second", "third is throttled"} {
		c.Send(msg("14155550100", "447700900001", 1, text))
	}
	p := msg("14155550101", "447700900001", 0, "")
	p.ESMClass, p.ShortMessage = smpp.ESMClassUDHI, append([]byte{5, 0, 3, 9, 2, 1}, "part one"...)
	c.Send(p)
	c.collect(4, 2, 0, ioTimeout)
	waitStats(t, s, "receipt responses", func(st smscsim.Stats) bool { return st.ReceiptResps == 2 })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(cfg.Report)
	if err != nil {
		t.Fatal(err)
	}
	var rep smscsim.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	ar, _ := rep.Account("acme")
	src, _ := ar.Source("14155550100")
	if ar.Accepted != 3 || ar.Throttled != 1 || ar.Receipts != 2 || ar.ReceiptResps["ESME_ROK"] != 2 || src.MaxPerSecond != 2 || src.Throttled != 1 || len(ar.Sources) != 2 {
		t.Fatalf("report %s", b)
	}
	for _, key := range []string{`"max_per_second"`, `"max_outstanding"`, `"throttled_source"`, `"receipt_resps"`, `"mo_resps"`, `"sources"`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("report lacks %s", key)
		}
	}
	f, err := os.Open(cfg.Log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 3 || lines[0]["text"] != `hello "world"` || lines[0]["id"] != "1" || lines[0]["account"] != "acme" ||
		lines[2]["text"] != "part one" || lines[2]["parts"] != 2.0 || lines[2]["ref"] != 9.0 || lines[1]["id"] != "2" {
		t.Fatalf("log %v", lines)
	}
	if _, err := time.Parse(time.RFC3339Nano, lines[0]["t"].(string)); err != nil {
		t.Fatal(err)
	}
}
