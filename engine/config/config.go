// Package config loads and validates the switchboard daemon's configuration
// (configs/switchboard.yaml): carriers and their binds, rate classes, the
// PostgreSQL and Redis URLs, the HTTP listener and logging.
//
// Load reads YAML strictly (an unknown key is an error), fills documented
// defaults and validates every field; an error names the field by its path
// (carriers[1].window) and says what is wrong. Secrets are never in the file:
// a carrier's password and the operator token come from environment
// variables the file names, so a config can be shown or logged whole.
//
// It sits under engine, which runs what it describes; cmd/switchboard loads
// it for each of its commands and hands it to the engine.
package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the daemon's configuration. Build it with Load or Parse.
type Config struct {
	HTTP     HTTP     `yaml:"http"`
	Log      Log      `yaml:"log"`
	Postgres Postgres `yaml:"postgres"`
	Redis    Redis    `yaml:"redis"`
	Operator Operator `yaml:"operator"`
	Engine   Engine   `yaml:"engine"`
	Throttle Throttle `yaml:"throttle"`
	Webhooks Webhooks `yaml:"webhooks"`
	// APILimits are the workspace API's rate limits (defaults; each
	// workspace may have its own).
	APILimits APILimits   `yaml:"api_limits"`
	Classes   []RateClass `yaml:"rate_classes"`
	Carriers  []Carrier   `yaml:"carriers"`
	// PIDFile, when set, is where `switchboard serve` writes its process
	// id (removed at exit), so that `switchboard reload` can signal it.
	PIDFile   string `yaml:"pid_file"`
	SourceDir string `yaml:"-"` // the directory of the file, for relative paths
	// Path is the file Load read ("" after Parse): a reload reads it again.
	Path string `yaml:"-"`
	// Hash identifies the file's content: the first 12 hex digits of its
	// SHA-256 (set by Parse).
	Hash string `yaml:"-"`
}

// HTTP configures the API listener.
type HTTP struct {
	Listen       string `yaml:"listen"`         // host:port; default 127.0.0.1:8080
	MaxBodyBytes int64  `yaml:"max_body_bytes"` // request body limit; default 64 KiB
	// MaxBatchBodyBytes limits the body of POST /v1/messages/batch (up to
	// 1,000 messages); default 16 MiB, at most 256 MiB.
	MaxBatchBodyBytes int64 `yaml:"max_batch_body_bytes"`
	// ShutdownGrace bounds how long in-flight requests may finish on SIGTERM.
	ShutdownGrace Duration `yaml:"shutdown_grace"` // default 10s
	// PprofListen, when set (host:port), serves Go's runtime profiles
	// (/debug/pprof/: CPU, heap, goroutines, mutex and block) on a listener
	// of their own, apart from the API; empty (the default) serves none.
	// Profiles show internals: keep it on a loopback address.
	PprofListen string `yaml:"pprof_listen"`
}

// Log configures logging.
type Log struct {
	Level string `yaml:"level"` // debug, info, warn, error; default info
}

// Postgres names the database.
type Postgres struct {
	// URL of the database; default the DATABASE_URL environment variable,
	// else postgres://postgres@127.0.0.1:5432/test.
	URL      string `yaml:"url"`
	MaxConns int32  `yaml:"max_conns"` // default 20
}

// Redis names the Redis server.
type Redis struct {
	// URL of the server; default REDIS_URL, else redis://127.0.0.1:6379/0.
	URL string `yaml:"url"`
	// Prefix starts every key Switchboard writes (default "sb:"): engines
	// sharing a prefix share their throttle buckets and bind leases; give
	// each deployment its own.
	Prefix string `yaml:"prefix"`
}

// Operator configures the operator API's token.
type Operator struct {
	// TokenEnv names the environment variable holding the operator token;
	// default SWITCHBOARD_OPERATOR_TOKEN. Without it the operator API is off.
	TokenEnv string `yaml:"token_env"`
	Token    string `yaml:"-" json:"-"` // read from TokenEnv by Load
}

// Engine configures the dispatcher and the inbound router.
type Engine struct {
	// InstanceID names this process in claims and bind leases; default
	// hostname-pid.
	InstanceID string `yaml:"instance_id"`
	// MessageTTL: a message not submitted after this long expires (10h).
	MessageTTL Duration `yaml:"message_ttl"`
	// ClaimBatch is how many messages a claim takes at once (200).
	ClaimBatch int `yaml:"claim_batch"`
	// Lease is how long a claim holds a message before another process may
	// take it back (2m) should its claimer stop heartbeating unnoticed: a
	// dead process's claims are released within seconds by its peers (or
	// by its restart), and a message waiting in a number's queue for half
	// the lease is given back.
	Lease Duration `yaml:"lease"`
	// RetryMin and RetryMax bound the backoff of a requeued message (1s, 5m).
	RetryMin Duration `yaml:"retry_min"`
	RetryMax Duration `yaml:"retry_max"`
	// MaxAttempts fails a message after this many attempts (10).
	MaxAttempts int `yaml:"max_attempts"`
	// InboundPartTimeout: parts of a long MO message still incomplete after
	// this long are kept as they are, flagged (10m).
	InboundPartTimeout Duration `yaml:"inbound_part_timeout"`
	// InFlight bounds the messages a process holds between claim and
	// result (5000).
	InFlight int `yaml:"in_flight"`
	// DrainTimeout bounds how long SIGTERM waits for in-flight submits (10s).
	DrainTimeout Duration `yaml:"drain_timeout"`
	// ExpireEvery is how often messages past their validity or the
	// message TTL are marked expired (30s).
	ExpireEvery Duration `yaml:"expire_every"`
	// ReleaseEvery is how often scheduled messages whose send time has
	// come are queued (1s): a scheduled message enters the queue up to
	// this long after its send_at.
	ReleaseEvery Duration `yaml:"release_every"`
}

// Webhooks configures the delivery of workspaces' webhooks (package
// webhook); every engine process delivers, each endpoint from one process
// at a time.
type Webhooks struct {
	// Disabled turns delivery off in this process (the API still manages
	// endpoints; other processes deliver).
	Disabled bool `yaml:"disabled"`
	// AllowPrivate lists addresses or CIDR prefixes webhooks may reach
	// besides public addresses ("127.0.0.1", "10.0.0.0/8"); loopback,
	// private, link-local and reserved addresses are refused otherwise, at
	// registration and at every connection.
	AllowPrivate []string `yaml:"allow_private"`
	// Timeout bounds each delivery, answer included (10s, at most 60s).
	Timeout Duration `yaml:"timeout"`
	// Concurrency is the requests in flight per endpoint (32, 1 to 1024).
	Concurrency int `yaml:"concurrency"`
	// Lease is how long a process holds an endpoint without renewing it:
	// another process takes over a dead one's endpoints after it (15s).
	Lease Duration `yaml:"lease"`
}

// Throttle configures the Redis buckets.
type Throttle struct {
	Prefix string `yaml:"prefix"` // key prefix; default <redis.prefix>throttle:
	// Margin is added to every sliding interval (default 10ms): it covers
	// the spread between the moment a segment is granted and the moment the
	// carrier reads it, so that a carrier counting strictly never sees N+1
	// in its interval. It costs Margin/Interval of a sliding rate. The
	// engine also checks each write against its recent writes of the number
	// and account with it (routing.DispatcherConfig.WriteMargin).
	Margin Duration `yaml:"margin"`
}

// APILimits configures the rate limits of the workspace API (package
// ratelimit): per workspace, shared by every engine process through Redis.
// A limit of N per second lets a workspace spend N at once, then N a
// second; 0 turns the limit off. Requests over a limit are answered 429
// rate_limited. If Redis cannot be reached the limits are not enforced
// (fail open) until it answers again.
type APILimits struct {
	// RequestsPerSecond is the default limit on each workspace's requests
	// to the workspace API (every /v1 route but /openapi.json), 0 to
	// 1000000 (DefaultRequestsPerSecond; 0: no limit). An operator sets a
	// workspace's own with PATCH /admin/v1/workspaces/{id}.
	RequestsPerSecond int `yaml:"requests_per_second"`
	// MessagesPerSecond is the default limit on the messages each
	// workspace sends through POST /v1/messages and /v1/messages/batch
	// (each item counts), 0 to 1000000 (DefaultMessagesPerSecond; 0: no
	// limit).
	MessagesPerSecond int `yaml:"messages_per_second"`
	// Grant is how much of a workspace's budget an engine process takes
	// from Redis at once: the rate's worth of Grant, spent within Grant
	// (1ms to 1s; default 100ms). A longer grant means fewer Redis calls
	// and more slack: all processes together may exceed a limit of N by
	// N·grant in any interval.
	Grant Duration `yaml:"grant"`
	// Prefix starts the limits' Redis keys (default <redis.prefix>ratelimit:).
	Prefix string `yaml:"prefix"`
}

// Defaults of api_limits. A section or key left out takes them; an
// explicit 0 turns a limit off.
const (
	DefaultRequestsPerSecond = 1000
	DefaultMessagesPerSecond = 1000
	DefaultGrant             = 100 * time.Millisecond
	MaxAPIRate               = 1000000
)

// Limit modes: how a carrier counts segments.
const (
	// ModeSliding: never more than rate segments in any interval, as
	// strict carriers count (the default).
	ModeSliding = "sliding"
	// ModeBucket: rate segments per interval on average, in bursts of at
	// most burst (a token bucket).
	ModeBucket = "bucket"
)

// RateClass is a class of sender numbers and how their carrier counts their
// segments: at most Rate per Interval.
type RateClass struct {
	Name string `yaml:"name"`
	// Rate is segments per Interval: a whole number in sliding mode; a rate
	// below 1 with no interval means one segment per 1/rate seconds (0.1 is
	// one segment in any 10 s).
	Rate     float64  `yaml:"rate"`
	Interval Duration `yaml:"interval"` // default 1s
	Mode     string   `yaml:"mode"`     // sliding (default) or bucket
	Burst    int      `yaml:"burst"`    // bucket only: most segments at once (default 1)
}

// Carrier is one SMSC account and how to bind to it.
type Carrier struct {
	Name        string `yaml:"name"`
	Host        string `yaml:"host"`
	Port        int    `yaml:"port"`
	TLS         *TLS   `yaml:"tls"`
	SystemID    string `yaml:"system_id"`
	PasswordEnv string `yaml:"password_env"` // environment variable holding the password
	Password    string `yaml:"-" json:"-"`   // read from PasswordEnv by Load; never logged
	SystemType  string `yaml:"system_type"`
	// BindMode is transceiver (default) or transmitter_receiver.
	BindMode string `yaml:"bind_mode"`
	// Binds is how many binds (or transmitter+receiver pairs) to hold (1).
	Binds int `yaml:"binds"`
	// MaxBinds is the most binds the account allows across every engine
	// process (default Binds); leases in Redis enforce it.
	MaxBinds int `yaml:"max_binds"`
	Window   int `yaml:"window"` // outstanding requests per bind (10)
	// TPS is the account's rate in segments per TPSInterval (default 1s),
	// across all binds and processes, counted as TPSMode says: sliding
	// (default: never more than TPS in any interval) or bucket (TPSBurst at
	// most at once, default 1). A whole number in sliding mode.
	TPS         float64  `yaml:"tps"`
	TPSInterval Duration `yaml:"tps_interval"`
	TPSMode     string   `yaml:"tps_mode"`
	TPSBurst    int      `yaml:"tps_burst"`
	// ThrottleScope says what a carrier refusal (0x58) is about: number
	// (default: the carrier limits each source number; only the refused
	// number slows down, the account only when refusals span several of its
	// numbers) or account (the carrier's limit is account-wide: any refusal
	// slows the whole account).
	ThrottleScope string `yaml:"throttle_scope"`
	// GSMDataCoding is the data_coding value the carrier reads as GSM 03.38:
	// 0 (default) or 1.
	GSMDataCoding uint8 `yaml:"gsm_data_coding"`
	// LongMessage is how texts over one part are sent: udh8 (default),
	// udh16, sar or payload.
	LongMessage string `yaml:"long_message"`
	// MessageIDs says how the carrier writes message ids in submit_sm_resp
	// and in receipts: hex, decimal or opaque (default opaque: compared as
	// text, case-insensitively).
	MessageIDs MessageIDs `yaml:"message_ids"`
	SourceTON  uint8      `yaml:"source_ton"` // default 1 (international)
	SourceNPI  uint8      `yaml:"source_npi"` // default 1 (E.164)
	DestTON    uint8      `yaml:"dest_ton"`   // default 1
	DestNPI    uint8      `yaml:"dest_npi"`   // default 1
	// RegisteredDelivery is the registered_delivery of every submit_sm
	// (1: a receipt on the final outcome; default).
	RegisteredDelivery *uint8 `yaml:"registered_delivery"`
	// Session timers (defaults those of package smpp).
	ResponseTimeout     Duration `yaml:"response_timeout"`
	EnquireLinkInterval Duration `yaml:"enquire_link_interval"`
	ReconnectMin        Duration `yaml:"reconnect_min"`
	ReconnectMax        Duration `yaml:"reconnect_max"`
	// UnreachableAfter: a bind that has not been bound for this long
	// (connect or bind failing, backing off) is logged at error level, once
	// per outage: the carrier needs a person (default 1m).
	UnreachableAfter Duration `yaml:"unreachable_after"`
}

// TLS configures a TLS bind.
type TLS struct {
	ServerName         string `yaml:"server_name"`
	CAFile             string `yaml:"ca_file"` // PEM; default the system roots
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// MessageIDs says how a carrier writes its message ids.
type MessageIDs struct {
	Submit  string `yaml:"submit"`  // hex, decimal or opaque
	Receipt string `yaml:"receipt"` // hex, decimal or opaque; default Submit's
}

// Duration is a time.Duration written as Go writes it ("30s", "1m30s").
type Duration time.Duration

// UnmarshalYAML reads a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("not a duration (like 30s or 1m30s): %q", s)
	}
	*d = Duration(v)
	return nil
}

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Defaults.
const (
	DefaultListen       = "127.0.0.1:8080"
	DefaultMaxBodyBytes = 64 << 10
	// DefaultMaxBatchBodyBytes is http.max_batch_body_bytes' default.
	DefaultMaxBatchBodyBytes = 16 << 20
	DefaultDatabaseURL       = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	DefaultRedisURL          = "redis://127.0.0.1:6379/0"
	DefaultOperatorEnv       = "SWITCHBOARD_OPERATOR_TOKEN"
)

// Load reads the file at path, reads the secrets it names from the
// environment and validates everything.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(b, os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	c.SourceDir = dirOf(path)
	c.Path = path
	return c, nil
}

func dirOf(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[:i]
	}
	return "."
}

// Parse decodes YAML and validates it; getenv supplies the environment (for
// URLs left empty and the secrets the file names).
func Parse(b []byte, getenv func(string) string) (*Config, error) {
	// The limits' defaults are set before decoding, so that an explicit 0
	// (no limit) differs from a key left out.
	c := Config{APILimits: APILimits{RequestsPerSecond: DefaultRequestsPerSecond, MessagesPerSecond: DefaultMessagesPerSecond}}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, cleanYAMLError(err)
	}
	if err := c.complete(getenv); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	c.Hash = hex.EncodeToString(sum[:6])
	return &c, nil
}

// cleanYAMLError drops the library's prefix from a decode error.
func cleanYAMLError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.ReplaceAll(msg, "unmarshal errors:\n  ", "")
	return errors.New(msg)
}

// FieldError is a validation error about one field.
type FieldError struct {
	Field  string // the path, e.g. carriers[0].window
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,40}$`)

// complete fills every default, section by section, and checks every
// field; it returns all the field errors, joined, in the file's order.
func (c *Config) complete(getenv func(string) string) error {
	var errs fieldErrs
	c.HTTP.complete(&errs)
	c.Log.complete(&errs)
	c.completeStores(&errs, getenv)
	c.Operator.complete(&errs, getenv)
	c.Engine.complete(&errs)
	c.completeLimits(&errs)
	c.Webhooks.complete(&errs)
	c.completeClasses(&errs)
	c.completeCarriers(&errs, getenv)
	return errors.Join(errs...)
}

// fieldErrs collects a configuration's errors in the order they are found.
type fieldErrs []error

func (e *fieldErrs) add(err error) { *e = append(*e, err) }

// defDur sets *d to v when it is zero.
func defDur(d *Duration, v time.Duration) {
	if *d == 0 {
		*d = Duration(v)
	}
}

// complete fills the defaults of the http section and checks it.
func (h *HTTP) complete(errs *fieldErrs) {
	if h.Listen == "" {
		h.Listen = DefaultListen
	}
	if _, _, err := net.SplitHostPort(h.Listen); err != nil {
		errs.add(fieldErr("http.listen", "want host:port, got %q", h.Listen))
	}
	if h.PprofListen != "" {
		if _, _, err := net.SplitHostPort(h.PprofListen); err != nil {
			errs.add(fieldErr("http.pprof_listen", "want host:port, got %q", h.PprofListen))
		} else if h.PprofListen == h.Listen {
			errs.add(fieldErr("http.pprof_listen", "must differ from http.listen (%q)", h.Listen))
		}
	}
	if h.MaxBodyBytes == 0 {
		h.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if h.MaxBodyBytes < 1024 || h.MaxBodyBytes > 16<<20 {
		errs.add(fieldErr("http.max_body_bytes", "must be 1024 to 16777216, got %d", h.MaxBodyBytes))
	}
	if h.MaxBatchBodyBytes == 0 {
		h.MaxBatchBodyBytes = DefaultMaxBatchBodyBytes
	}
	if h.MaxBatchBodyBytes < h.MaxBodyBytes || h.MaxBatchBodyBytes > 256<<20 {
		errs.add(fieldErr("http.max_batch_body_bytes", "must be from http.max_body_bytes (%d) to 268435456, got %d",
			h.MaxBodyBytes, h.MaxBatchBodyBytes))
	}
	defDur(&h.ShutdownGrace, 10*time.Second)
}

// complete fills the default log level and checks it.
func (l *Log) complete(errs *fieldErrs) {
	switch l.Level {
	case "":
		l.Level = "info"
	case "debug", "info", "warn", "error":
	default:
		errs.add(fieldErr("log.level", "must be debug, info, warn or error, got %q", l.Level))
	}
}

// completeStores fills the PostgreSQL and Redis URLs (from the environment,
// else the defaults) and checks them.
func (c *Config) completeStores(errs *fieldErrs, getenv func(string) string) {
	if !completeURL(&c.Postgres.URL, getenv("DATABASE_URL"), DefaultDatabaseURL, "postgres", "postgresql") {
		errs.add(fieldErr("postgres.url", "want a postgres:// URL"))
	}
	if c.Postgres.MaxConns == 0 {
		c.Postgres.MaxConns = 20
	}
	if c.Postgres.MaxConns < 2 || c.Postgres.MaxConns > 1000 {
		errs.add(fieldErr("postgres.max_conns", "must be 2 to 1000, got %d", c.Postgres.MaxConns))
	}
	if !completeURL(&c.Redis.URL, getenv("REDIS_URL"), DefaultRedisURL, "redis", "rediss") {
		errs.add(fieldErr("redis.url", "want a redis:// or rediss:// URL"))
	}
}

// completeURL sets an empty *u to fromEnv, or def when that is empty too,
// and reports whether *u is a URL of one of the schemes.
func completeURL(u *string, fromEnv, def string, schemes ...string) bool {
	if *u == "" {
		*u = fromEnv
	}
	if *u == "" {
		*u = def
	}
	p, err := url.Parse(*u)
	return err == nil && slices.Contains(schemes, p.Scheme)
}

// complete reads the operator token from the environment and checks it.
func (o *Operator) complete(errs *fieldErrs, getenv func(string) string) {
	if o.TokenEnv == "" {
		o.TokenEnv = DefaultOperatorEnv
	}
	o.Token = getenv(o.TokenEnv)
	if o.Token != "" && len(o.Token) < 16 {
		errs.add(fieldErr("operator.token_env", "the token in $%s is shorter than 16 characters", o.TokenEnv))
	}
}

// complete fills the defaults of the engine section and checks it.
func (e *Engine) complete(errs *fieldErrs) {
	if e.InstanceID == "" {
		host, _ := os.Hostname()
		e.InstanceID = host + "-" + strconv.Itoa(os.Getpid())
	}
	defDur(&e.MessageTTL, 10*time.Hour)
	defDur(&e.Lease, 2*time.Minute)
	defDur(&e.RetryMin, time.Second)
	defDur(&e.RetryMax, 5*time.Minute)
	defDur(&e.InboundPartTimeout, 10*time.Minute)
	defDur(&e.DrainTimeout, 10*time.Second)
	defDur(&e.ExpireEvery, 30*time.Second)
	defDur(&e.ReleaseEvery, time.Second)
	if e.ClaimBatch == 0 {
		e.ClaimBatch = 200
	}
	if e.MaxAttempts == 0 {
		e.MaxAttempts = 10
	}
	if e.InFlight == 0 {
		e.InFlight = 5000
	}
	if e.ClaimBatch < 1 || e.ClaimBatch > 5000 {
		errs.add(fieldErr("engine.claim_batch", "must be 1 to 5000, got %d", e.ClaimBatch))
	}
	if e.InFlight < e.ClaimBatch {
		errs.add(fieldErr("engine.in_flight", "must be at least engine.claim_batch (%d), got %d", e.ClaimBatch, e.InFlight))
	}
	if e.Lease.D() < 5*time.Second {
		errs.add(fieldErr("engine.lease", "must be at least 5s, got %v", e.Lease.D()))
	}
	if e.ExpireEvery.D() < 100*time.Millisecond || e.ReleaseEvery.D() < 100*time.Millisecond {
		errs.add(fieldErr("engine.expire_every", "engine.expire_every and engine.release_every must be at least 100ms, got %v and %v",
			e.ExpireEvery.D(), e.ReleaseEvery.D()))
	}
	if e.RetryMax < e.RetryMin {
		errs.add(fieldErr("engine.retry_max", "must not be below engine.retry_min (%v)", e.RetryMin.D()))
	}
	if e.MaxAttempts < 1 {
		errs.add(fieldErr("engine.max_attempts", "must be at least 1, got %d", e.MaxAttempts))
	}
}

// completeLimits fills the Redis key prefixes and the defaults of the
// throttle and api_limits sections, and checks them.
func (c *Config) completeLimits(errs *fieldErrs) {
	if c.Redis.Prefix == "" {
		c.Redis.Prefix = "sb:"
	}
	if strings.ContainsAny(c.Redis.Prefix, "{}") {
		errs.add(fieldErr("redis.prefix", "must not contain { or }"))
	}
	if c.Throttle.Prefix == "" {
		c.Throttle.Prefix = c.Redis.Prefix + "throttle:"
	}
	if strings.ContainsAny(c.Throttle.Prefix, "{}") {
		errs.add(fieldErr("throttle.prefix", "must not contain { or } (the account is the hash tag)"))
	}
	if c.Throttle.Margin == 0 {
		c.Throttle.Margin = Duration(DefaultMargin)
	}
	if c.Throttle.Margin < 0 || c.Throttle.Margin.D() > time.Second {
		errs.add(fieldErr("throttle.margin", "must be 0 to 1s, got %v", c.Throttle.Margin.D()))
	}
	al := &c.APILimits
	defDur(&al.Grant, DefaultGrant)
	for _, v := range []struct {
		field string
		n     int
	}{{"api_limits.requests_per_second", al.RequestsPerSecond}, {"api_limits.messages_per_second", al.MessagesPerSecond}} {
		if v.n < 0 || v.n > MaxAPIRate {
			errs.add(fieldErr(v.field, "must be 0 (no limit) to %d, got %d", MaxAPIRate, v.n))
		}
	}
	if al.Grant.D() < time.Millisecond || al.Grant.D() > time.Second {
		errs.add(fieldErr("api_limits.grant", "must be 1ms to 1s, got %v", al.Grant.D()))
	}
	if al.Prefix == "" {
		al.Prefix = c.Redis.Prefix + "ratelimit:"
	}
	if strings.ContainsAny(al.Prefix, "{}") {
		errs.add(fieldErr("api_limits.prefix", "must not contain { or } (each bucket is a hash tag)"))
	}
}

// complete fills the defaults of the webhooks section and checks it.
func (wh *Webhooks) complete(errs *fieldErrs) {
	defDur(&wh.Timeout, 10*time.Second)
	defDur(&wh.Lease, 15*time.Second)
	if wh.Concurrency == 0 {
		wh.Concurrency = 32
	}
	if wh.Timeout.D() > time.Minute || wh.Timeout < 0 {
		errs.add(fieldErr("webhooks.timeout", "must be at most 1m, got %v", wh.Timeout.D()))
	}
	if wh.Lease.D() < time.Second {
		errs.add(fieldErr("webhooks.lease", "must be at least 1s, got %v", wh.Lease.D()))
	}
	if wh.Concurrency < 1 || wh.Concurrency > 1024 {
		errs.add(fieldErr("webhooks.concurrency", "must be 1 to 1024, got %d", wh.Concurrency))
	}
	for i, a := range wh.AllowPrivate {
		if _, err := netip.ParsePrefix(a); err != nil {
			if _, err := netip.ParseAddr(a); err != nil {
				errs.add(fieldErr(fmt.Sprintf("webhooks.allow_private[%d]", i), "must be an address or a CIDR prefix, got %q", a))
			}
		}
	}
}

// completeClasses checks the rate classes and fills their defaults.
func (c *Config) completeClasses(errs *fieldErrs) {
	if len(c.Classes) == 0 {
		errs.add(fieldErr("rate_classes", "at least one class is required"))
	}
	seen := map[string]bool{}
	for i := range c.Classes {
		rc := &c.Classes[i]
		f := fmt.Sprintf("rate_classes[%d]", i)
		if !nameRE.MatchString(rc.Name) {
			errs.add(fieldErr(f+".name", "want 1 to 40 letters, digits, - or _, got %q", rc.Name))
		} else if seen[rc.Name] {
			errs.add(fieldErr(f+".name", "%q is defined twice", rc.Name))
		}
		seen[rc.Name] = true
		for _, err := range completeLimit(f+".", "rate", "interval", "mode", "burst", &rc.Rate, &rc.Interval, &rc.Mode, &rc.Burst) {
			errs.add(err)
		}
	}
}

// completeCarriers checks the carriers and fills their defaults.
func (c *Config) completeCarriers(errs *fieldErrs, getenv func(string) string) {
	if len(c.Carriers) == 0 {
		errs.add(fieldErr("carriers", "at least one carrier is required"))
	}
	seen := map[string]bool{}
	for i := range c.Carriers {
		for _, err := range c.Carriers[i].complete(fmt.Sprintf("carriers[%d]", i), getenv) {
			errs.add(err)
		}
		if n := c.Carriers[i].Name; seen[n] {
			errs.add(fieldErr(fmt.Sprintf("carriers[%d].name", i), "%q is defined twice", n))
		} else {
			seen[n] = true
		}
	}
}

func (k *Carrier) complete(f string, getenv func(string) string) []error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fieldErr(f+"."+field, format, args...))
	}
	if !nameRE.MatchString(k.Name) {
		add("name", "want 1 to 40 letters, digits, - or _, got %q", k.Name)
	}
	if k.Host == "" {
		add("host", "is required")
	}
	if k.Port < 1 || k.Port > 65535 {
		add("port", "must be 1 to 65535, got %d", k.Port)
	}
	if k.SystemID == "" || len(k.SystemID) > 15 {
		add("system_id", "must be 1 to 15 characters, got %d", len(k.SystemID))
	}
	if len(k.SystemType) > 12 {
		add("system_type", "must be at most 12 characters, got %d", len(k.SystemType))
	}
	if k.PasswordEnv != "" {
		k.Password = getenv(k.PasswordEnv)
		if k.Password == "" {
			add("password_env", "$%s is empty or not set", k.PasswordEnv)
		}
	}
	if len(k.Password) > 8 {
		add("password_env", "the password in $%s is longer than SMPP's 8 characters", k.PasswordEnv)
	}
	switch k.BindMode {
	case "":
		k.BindMode = "transceiver"
	case "transceiver", "transmitter_receiver":
	default:
		add("bind_mode", "must be transceiver or transmitter_receiver, got %q", k.BindMode)
	}
	if k.Binds == 0 {
		k.Binds = 1
	}
	if k.Binds < 1 || k.Binds > 64 {
		add("binds", "must be 1 to 64, got %d", k.Binds)
	}
	if k.MaxBinds == 0 {
		k.MaxBinds = k.Binds
	}
	if k.MaxBinds < k.Binds {
		add("max_binds", "must be at least binds (%d), got %d", k.Binds, k.MaxBinds)
	}
	if k.UnreachableAfter == 0 {
		k.UnreachableAfter = Duration(DefaultUnreachableAfter)
	}
	if k.UnreachableAfter < Duration(time.Second) {
		add("unreachable_after", "must be at least 1s, got %v", k.UnreachableAfter.D())
	}
	if k.Window == 0 {
		k.Window = 10
	}
	if k.Window < 1 || k.Window > 65535 {
		add("window", "must be 1 to 65535, got %d", k.Window)
	}
	errs = append(errs, completeLimit(f+".", "tps", "tps_interval", "tps_mode", "tps_burst", &k.TPS, &k.TPSInterval, &k.TPSMode, &k.TPSBurst)...)
	switch k.ThrottleScope {
	case "":
		k.ThrottleScope = "number"
	case "number", "account":
	default:
		add("throttle_scope", "must be number or account, got %q", k.ThrottleScope)
	}
	if k.GSMDataCoding > 1 {
		add("gsm_data_coding", "must be 0 or 1, got %d", k.GSMDataCoding)
	}
	switch k.LongMessage {
	case "":
		k.LongMessage = "udh8"
	case "udh8", "udh16", "sar", "payload":
	default:
		add("long_message", "must be udh8, udh16, sar or payload, got %q", k.LongMessage)
	}
	if k.MessageIDs.Submit == "" {
		k.MessageIDs.Submit = "opaque"
	}
	if k.MessageIDs.Receipt == "" {
		k.MessageIDs.Receipt = k.MessageIDs.Submit
	}
	for _, v := range []struct{ field, val string }{{"message_ids.submit", k.MessageIDs.Submit}, {"message_ids.receipt", k.MessageIDs.Receipt}} {
		if v.val != "hex" && v.val != "decimal" && v.val != "opaque" {
			add(v.field, "must be hex, decimal or opaque, got %q", v.val)
		}
	}
	if k.SourceTON == 0 && k.SourceNPI == 0 {
		k.SourceTON, k.SourceNPI = 1, 1
	}
	if k.DestTON == 0 && k.DestNPI == 0 {
		k.DestTON, k.DestNPI = 1, 1
	}
	if k.RegisteredDelivery == nil {
		one := uint8(1)
		k.RegisteredDelivery = &one
	} else if *k.RegisteredDelivery > 0x1F {
		add("registered_delivery", "must be 0 to 31, got %d", *k.RegisteredDelivery)
	}
	if k.TLS != nil && k.TLS.CAFile != "" {
		if _, err := os.Stat(k.TLS.CAFile); err != nil {
			add("tls.ca_file", "%v", err)
		}
	}
	return errs
}

// DefaultUnreachableAfter is carriers[].unreachable_after's default.
const DefaultUnreachableAfter = time.Minute

// DefaultMargin is throttle.margin's default.
const DefaultMargin = 10 * time.Millisecond

// completeLimit checks and fills one rate limit (a rate class's, or a
// carrier account's): rate per interval, sliding or bucket, burst. A rate
// below 1 with no interval becomes one segment per 1/rate seconds.
func completeLimit(f, rateF, intervalF, modeF, burstF string, rate *float64, interval *Duration, mode *string, burst *int) []error {
	var errs []error
	add := func(field, format string, args ...any) { errs = append(errs, fieldErr(f+field, format, args...)) }
	switch *mode {
	case "":
		*mode = ModeSliding
	case ModeSliding, ModeBucket:
	default:
		add(modeF, "must be sliding or bucket, got %q", *mode)
	}
	if *rate <= 0 || *rate > 1e6 {
		add(rateF, "must be above 0 and at most 1000000, got %v", *rate)
		return errs
	}
	if *interval == 0 {
		*interval = Duration(time.Second)
		if *rate < 1 {
			*interval = Duration(time.Duration(math.Round(float64(time.Second) / *rate)))
			*rate = 1
		}
	}
	if *interval < Duration(time.Millisecond) || *interval > Duration(24*time.Hour) {
		add(intervalF, "must be 1ms to 24h, got %v", interval.D())
	}
	switch *mode {
	case ModeSliding:
		if *rate != math.Trunc(*rate) {
			add(rateF, "must be a whole number of segments per %s in sliding mode, got %v (write e.g. %s: 1, %s: 2s)", intervalF, *rate, rateF, intervalF)
		}
		if *burst != 0 {
			add(burstF, "applies to mode bucket only (sliding allows %s segments at once)", rateF)
		}
	case ModeBucket:
		if *burst == 0 {
			*burst = 1
		}
		if *burst < 1 || *burst > 1000000 {
			add(burstF, "must be 1 to 1000000, got %d", *burst)
		}
	}
	return errs
}

// Addr returns the carrier's host:port.
func (k *Carrier) Addr() string { return net.JoinHostPort(k.Host, strconv.Itoa(k.Port)) }

// Class returns the rate class with the name.
func (c *Config) Class(name string) (RateClass, bool) {
	for _, rc := range c.Classes {
		if rc.Name == name {
			return rc, true
		}
	}
	return RateClass{}, false
}

// Carrier returns the carrier with the name.
func (c *Config) Carrier(name string) (*Carrier, bool) {
	for i := range c.Carriers {
		if c.Carriers[i].Name == name {
			return &c.Carriers[i], true
		}
	}
	return nil, false
}
