package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/engine/config"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// The example shipped in configs/ loads and means what its comments say.
func TestExampleConfigLoads(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "..", "..", "configs", "switchboard.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse(b, env(map[string]string{"SIM_PASSWORD": "secret", "SWITCHBOARD_OPERATOR_TOKEN": "operator-token-0123456789"}))
	if err != nil {
		t.Fatal(err)
	}
	k, ok := c.Carrier("sim")
	if !ok || k.Password != "secret" || k.Binds != 2 || k.Window != 100 || k.TPS != 500 || k.MessageIDs.Receipt != "decimal" || k.Addr() != "127.0.0.1:2775" {
		t.Fatalf("carrier %+v", k)
	}
	if rc, ok := c.Class("shared"); !ok || rc.Rate != 1 {
		t.Fatalf("class %+v", rc)
	}
	if c.APILimits.RequestsPerSecond != 1000 || c.APILimits.MessagesPerSecond != 1000 || c.APILimits.Grant.D() != 100*time.Millisecond {
		t.Fatalf("api_limits %+v", c.APILimits)
	}
	if c.Engine.MessageTTL.D() != 10*time.Hour || c.Operator.Token == "" || c.Postgres.URL != config.DefaultDatabaseURL {
		t.Fatalf("engine %+v", c.Engine)
	}
}

func TestDefaults(t *testing.T) {
	c, err := config.Parse([]byte(`
rate_classes: [{name: shared, rate: 0.1}]
carriers: [{name: a, host: 127.0.0.1, port: 2775, system_id: sys, tps: 10}]
`), env(map[string]string{"DATABASE_URL": "postgres://x@127.0.0.1:1/db", "REDIS_URL": "redis://127.0.0.1:2/0"}))
	if err != nil {
		t.Fatal(err)
	}
	k := c.Carriers[0]
	if k.Window != 10 || k.Binds != 1 || k.MaxBinds != 1 || k.BindMode != "transceiver" || k.LongMessage != "udh8" ||
		k.MessageIDs.Submit != "opaque" || *k.RegisteredDelivery != 1 || k.SourceTON != 1 {
		t.Fatalf("carrier defaults %+v", k)
	}
	if c.Postgres.URL != "postgres://x@127.0.0.1:1/db" || c.Redis.URL != "redis://127.0.0.1:2/0" || c.HTTP.Listen != config.DefaultListen {
		t.Fatalf("urls %q %q", c.Postgres.URL, c.Redis.URL)
	}
	if c.HTTP.MaxBodyBytes != config.DefaultMaxBodyBytes || c.HTTP.MaxBatchBodyBytes != config.DefaultMaxBatchBodyBytes {
		t.Fatalf("body limits %+v", c.HTTP)
	}
	// 0.1 per second: one segment in any 10 s, sliding.
	if rc := c.Classes[0]; rc.Rate != 1 || rc.Interval.D() != 10*time.Second || rc.Mode != config.ModeSliding || rc.Burst != 0 || c.Engine.InstanceID == "" {
		t.Fatalf("%+v", c)
	}
	if k.TPS != 10 || k.TPSInterval.D() != time.Second || k.TPSMode != config.ModeSliding || k.ThrottleScope != "number" || c.Throttle.Margin.D() != config.DefaultMargin {
		t.Fatalf("limit defaults %+v %+v", k, c.Throttle)
	}
}

// Every error names its field and says what is wrong; all errors are
// reported at once.
func TestErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"carriers: []\nrate_classes: [{name: s, rate: 1}]", "carriers: at least one carrier is required"},
		{"rate_classes: [{name: s, rate: 0}]\ncarriers: [{name: a, host: h, port: 1, system_id: s, tps: 1}]", "rate_classes[0].rate: must be above 0"},
		{"rate_classes: [{name: s, rate: 1}]\ncarriers: [{name: a, host: h, port: 70000, system_id: s, tps: 1}]", "carriers[0].port: must be 1 to 65535, got 70000"},
		{"rate_classes: [{name: s, rate: 1}]\ncarriers: [{name: a, host: h, port: 1, system_id: s, tps: 1, window: -1}]", "carriers[0].window: must be 1 to 65535"},
		{"rate_classes: [{name: s, rate: 1}]\ncarriers: [{name: a, host: h, port: 1, system_id: s, tps: 1, long_message: udh32}]", `carriers[0].long_message: must be udh8, udh16, sar or payload, got "udh32"`},
		{"rate_classes: [{name: s, rate: 1}]\ncarriers: [{name: a, host: h, port: 1, system_id: s, tps: 1, password_env: NOPE}]", "carriers[0].password_env: $NOPE is empty or not set"},
		{"rate_classes: [{name: s, rate: 1}]\ncarriers: [{name: a, host: h, port: 1, system_id: s, tps: 1, response_timeout: soon}]", `not a duration`},
		{"rate_classes: [{name: s, rate: 1}]\ncarriers: [{name: a, host: h, port: 1, system_id: s, tps: 1, windw: 5}]", "field windw not found"},
		{"webhooks: {allow_private: [intranet]}\nrate_classes: [{name: s, rate: 1}]\ncarriers: [{name: a, host: h, port: 1, system_id: s, tps: 1}]", `webhooks.allow_private[0]: must be an address or a CIDR prefix, got "intranet"`},
		{"webhooks: {timeout: 2m}\nrate_classes: [{name: s, rate: 1}]\ncarriers: [{name: a, host: h, port: 1, system_id: s, tps: 1}]", "webhooks.timeout: must be at most 1m"},
		{"webhooks: {concurrency: 5000}\nrate_classes: [{name: s, rate: 1}]\ncarriers: [{name: a, host: h, port: 1, system_id: s, tps: 1}]", "webhooks.concurrency: must be 1 to 1024"},
		{"log: {level: loud}\nrate_classes: [{name: s, rate: 1}]\ncarriers: [{name: a, host: h, port: 1, system_id: s, tps: 1}]", `log.level: must be debug, info, warn or error, got "loud"`},
		{"rate_classes: [{name: s, rate: 1}, {name: s, rate: 2}]\ncarriers: [{name: a, host: h, port: 1, system_id: s, tps: 1}]", `rate_classes[1].name: "s" is defined twice`},
		{"rate_classes: [{name: s, rate: 2.5}]\ncarriers: [{name: a, host: h, port: 1, system_id: s, tps: 1}]", "rate_classes[0].rate: must be a whole number of segments per interval in sliding mode"},
		{"rate_classes: [{name: s, rate: 2, burst: 2}]\ncarriers: [{name: a, host: h, port: 1, system_id: s, tps: 1}]", "rate_classes[0].burst: applies to mode bucket only"},
		{"rate_classes: [{name: s, rate: 2, mode: leaky}]\ncarriers: [{name: a, host: h, port: 1, system_id: s, tps: 1}]", `rate_classes[0].mode: must be sliding or bucket, got "leaky"`},
		{"rate_classes: [{name: s, rate: 1}]\ncarriers: [{name: a, host: h, port: 1, system_id: s, tps: 1, tps_burst: 5}]", "carriers[0].tps_burst: applies to mode bucket only"},
		{"rate_classes: [{name: s, rate: 1}]\ncarriers: [{name: a, host: h, port: 1, system_id: s, tps: 1, tps_interval: 0s5}]", "not a duration"},
		{"rate_classes: [{name: s, rate: 1}]\ncarriers: [{name: a, host: h, port: 1, system_id: s, tps: 1, throttle_scope: all}]", `carriers[0].throttle_scope: must be number or account, got "all"`},
		{"http: {max_batch_body_bytes: 2048}\nrate_classes: [{name: s, rate: 1}]\ncarriers: [{name: a, host: h, port: 1, system_id: s, tps: 1}]", "http.max_batch_body_bytes: must be from http.max_body_bytes (65536) to 268435456, got 2048"},
		{"throttle: {margin: 2s}\nrate_classes: [{name: s, rate: 1}]\ncarriers: [{name: a, host: h, port: 1, system_id: s, tps: 1}]", "throttle.margin: must be 0 to 1s"},
		{"rate_classes: [{name: s, rate: 1}]\ncarriers: [{name: a, host: h, port: 1, system_id: waytoolongsystemid, tps: 1}]", "carriers[0].system_id: must be 1 to 15 characters"},
		{"http: {pprof_listen: localhost}\nrate_classes: [{name: s, rate: 1}]\ncarriers: [{name: a, host: h, port: 1, system_id: s, tps: 1}]", `http.pprof_listen: want host:port, got "localhost"`},
		{"http: {listen: '127.0.0.1:9', pprof_listen: '127.0.0.1:9'}\nrate_classes: [{name: s, rate: 1}]\ncarriers: [{name: a, host: h, port: 1, system_id: s, tps: 1}]", `http.pprof_listen: must differ from http.listen`},
		{"[not yaml", "did not find expected"},
	} {
		_, err := config.Parse([]byte(tc.yaml), env(nil))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\n got %v\nwant %q", tc.yaml, err, tc.want)
		}
	}
	_, err := config.Parse([]byte("rate_classes: [{name: s, rate: -1}]\ncarriers: [{name: a, host: '', port: 0, system_id: s, tps: 1}]"), env(nil))
	var fe *config.FieldError
	if !errors.As(err, &fe) || strings.Count(err.Error(), "\n") < 2 {
		t.Fatalf("want all three errors at once, got %v", err)
	}
}

// FuzzParse: the loader never panics, whatever the file holds.
func FuzzParse(f *testing.F) {
	b, err := os.ReadFile("../../configs/switchboard.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("carriers: [{name: a, port: x}]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		config.Parse(b, env(map[string]string{"SIM_PASSWORD": "pw"}))
	})
}

// api_limits: the defaults when the section or a key is left out, an
// explicit 0 turns a limit off, and bad values name their field.
func TestAPILimits(t *testing.T) {
	const base = "rate_classes: [{name: s, rate: 1}]\ncarriers: [{name: a, host: h, port: 1, system_id: s, tps: 1}]\n"
	parse := func(extra string) (*config.Config, error) {
		return config.Parse([]byte(base+extra), env(nil))
	}
	c, err := parse("redis: {prefix: \"x:\"}\n")
	if err != nil {
		t.Fatal(err)
	}
	if a := c.APILimits; a.RequestsPerSecond != config.DefaultRequestsPerSecond || a.MessagesPerSecond != config.DefaultMessagesPerSecond ||
		a.Grant.D() != config.DefaultGrant || a.Prefix != "x:ratelimit:" {
		t.Fatalf("defaults %+v", a)
	}
	c, err = parse("api_limits: {requests_per_second: 0, grant: 250ms}\n")
	if err != nil {
		t.Fatal(err)
	}
	if a := c.APILimits; a.RequestsPerSecond != 0 || a.MessagesPerSecond != config.DefaultMessagesPerSecond || a.Grant.D() != 250*time.Millisecond {
		t.Fatalf("explicit 0 and a key left out: %+v", a)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"api_limits: {requests_per_second: -1}", "api_limits.requests_per_second: must be 0 (no limit) to 1000000, got -1"},
		{"api_limits: {messages_per_second: 2000000}", "api_limits.messages_per_second: must be 0 (no limit) to 1000000, got 2000000"},
		{"api_limits: {grant: 2s}", "api_limits.grant: must be 1ms to 1s, got 2s"},
		{"api_limits: {grant: 100us}", "api_limits.grant: must be 1ms to 1s, got 100µs"},
		{"api_limits: {prefix: \"a{b\"}", "api_limits.prefix: must not contain { or }"},
		{"api_limits: {requests_per_second: many}", "cannot unmarshal"},
		{"api_limits: {per_token: 5}", "field per_token not found"},
	} {
		_, err := parse(tc.yaml + "\n")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
