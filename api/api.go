package api

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/webhook"
)

// Store is what the API needs of the inbox; *inbox.Store implements it.
type Store interface {
	Authenticate(ctx context.Context, token string) (inbox.Auth, error)

	Enqueue(ctx context.Context, reqs []inbox.OutboundRequest) ([]inbox.EnqueueResult, error)
	GetMessage(ctx context.Context, ws inbox.WorkspaceID, id inbox.MessageID) (inbox.Message, error)
	CancelMessage(ctx context.Context, ws inbox.WorkspaceID, id inbox.MessageID) (inbox.Message, error)
	ListThreads(ctx context.Context, ws inbox.WorkspaceID, p inbox.Page) ([]inbox.Thread, string, error)
	ListMessages(ctx context.Context, ws inbox.WorkspaceID, thread inbox.ThreadID, p inbox.Page) ([]inbox.Message, string, error)
	MarkThreadRead(ctx context.Context, ws inbox.WorkspaceID, id inbox.ThreadID) error

	GetWorkspace(ctx context.Context, ws inbox.WorkspaceID) (inbox.Workspace, error)
	ListNumbers(ctx context.Context, ws inbox.WorkspaceID) ([]inbox.WorkspaceNumber, error)
	FindNumber(ctx context.Context, ws inbox.WorkspaceID, e164 string) (inbox.WorkspaceNumber, error)
	ConnectNumber(ctx context.Context, ws inbox.WorkspaceID, id inbox.NumberID) (inbox.WorkspaceNumber, error)
	DisableNumber(ctx context.Context, ws inbox.WorkspaceID, id inbox.NumberID) error
	EnableNumber(ctx context.Context, ws inbox.WorkspaceID, id inbox.NumberID) error
	DisconnectNumber(ctx context.Context, ws inbox.WorkspaceID, id inbox.NumberID) error
	SendingStats(ctx context.Context, ws inbox.WorkspaceID, numbers []inbox.NumberID, window time.Duration, throttleCodes []int32) ([]inbox.SendingStats, error)
	RecentSending(ctx context.Context, ws inbox.WorkspaceID, numbers []inbox.NumberID, window, late time.Duration) ([]inbox.RecentSending, error)

	RequestNumber(ctx context.Context, ws inbox.WorkspaceID, nr inbox.NewNumberRequest) (inbox.NumberRequest, error)
	GetNumberRequest(ctx context.Context, ws inbox.WorkspaceID, id inbox.RequestID) (inbox.NumberRequest, error)
	ListNumberRequests(ctx context.Context, ws inbox.WorkspaceID, p inbox.Page) ([]inbox.NumberRequest, string, error)
	CancelNumberRequest(ctx context.Context, ws inbox.WorkspaceID, id inbox.RequestID) (inbox.NumberRequest, error)

	ChangeCursor(ctx context.Context) (string, error)
	Changes(ctx context.Context, ws inbox.WorkspaceID, after string, limit int) ([]inbox.Change, error)

	CreateWorkspace(ctx context.Context, name string, smsAddon bool) (inbox.Workspace, string, error)
	SetSMSAddon(ctx context.Context, ws inbox.WorkspaceID, on bool) error
	SetSmartEncoding(ctx context.Context, ws inbox.WorkspaceID, on bool) error
	SetQuota(ctx context.Context, ws inbox.WorkspaceID, p inbox.QuotaPatch) error
	Quota(ctx context.Context, ws inbox.WorkspaceID) (inbox.QuotaStatus, error)
	SetRateLimits(ctx context.Context, ws inbox.WorkspaceID, l inbox.RateLimits) error
	AddNumber(ctx context.Context, nn inbox.NewNumber) (inbox.Number, error)
	AllNumbers(ctx context.Context, status inbox.NumberStatus, p inbox.Page) ([]inbox.NumberInUse, string, error)
	IssueToken(ctx context.Context, ws inbox.WorkspaceID, nt inbox.NewToken) (inbox.Token, string, error)
	ListTokens(ctx context.Context, ws inbox.WorkspaceID) ([]inbox.Token, error)
	RevokeTokenID(ctx context.Context, ws inbox.WorkspaceID, id inbox.TokenID) (inbox.Token, error)
	ListAllNumberRequests(ctx context.Context, status inbox.RequestStatus, p inbox.Page) ([]inbox.NumberRequest, string, error)
	FulfilNumberRequest(ctx context.Context, id inbox.RequestID, f inbox.Fulfilment) (inbox.NumberRequest, inbox.Number, error)
	DeclineNumberRequest(ctx context.Context, id inbox.RequestID, reason string) (inbox.NumberRequest, error)
	StartSelfTest(ctx context.Context, nt inbox.NewSelfTest) (inbox.SelfTest, error)
	GetSelfTest(ctx context.Context, id inbox.SelfTestID) (inbox.SelfTest, error)
	ListUnroutedGroups(ctx context.Context, p inbox.Page) ([]inbox.UnroutedGroup, string, error)
	ListUnroutedTo(ctx context.Context, to string, p inbox.Page) ([]inbox.UnroutedMessage, string, error)
	AssignUnrouted(ctx context.Context, a inbox.Assignment) (inbox.Assigned, error)

	ListOptOuts(ctx context.Context, ws inbox.WorkspaceID, p inbox.Page) ([]inbox.ContactState, string, error)
	GetContactState(ctx context.Context, ws inbox.WorkspaceID, contact string) (inbox.ContactState, error)
	SetOptOut(ctx context.Context, ws inbox.WorkspaceID, contact string, out bool, source inbox.OptOutSource) (inbox.ContactState, error)
	GetKeywordSettings(ctx context.Context, ws inbox.WorkspaceID) (inbox.KeywordSettings, error)
	SetKeywordSettings(ctx context.Context, ws inbox.WorkspaceID, k inbox.KeywordSettings) (inbox.KeywordSettings, error)
	Usage(ctx context.Context, q inbox.UsageQuery) ([]inbox.UsageRow, error)
	UsageAsOf(ctx context.Context) (time.Time, error)
}

var _ Store = (*inbox.Store)(nil)

// ChangeReader reads a workspace's change feed after a cursor, as
// inbox.Store.Changes does (*inbox.Feed implements it too).
type ChangeReader interface {
	Changes(ctx context.Context, ws inbox.WorkspaceID, after string, limit int) ([]inbox.Change, error)
}

// Events wakes the event streams when the change feed may have grown and
// carries this process's writes to the other processes;
// *events.Hub implements it.
type Events interface {
	// Changed returns a channel closed at the next wake-up.
	Changed() <-chan struct{}
	// Notify says something was committed (never blocks).
	Notify()
}

// Defaults of Config.
const (
	DefaultMaxBodyBytes   = 64 << 10
	DefaultEnqueueBatch   = 256
	DefaultEnqueueWorkers = 2
	DefaultRequestTimeout = 10 * time.Second
	DefaultAuthCacheTTL   = 5 * time.Second
	DefaultHeartbeat      = 15 * time.Second
	// DefaultSelfTestTimeout is how long a number self-test waits for its
	// probe to come back unless the request says; MaxSelfTestTimeout is the
	// longest it may ask for.
	DefaultSelfTestTimeout = 20 * time.Second
	MaxSelfTestTimeout     = 2 * time.Minute
	// DefaultMaxBatchBodyBytes: MaxBatchMessages messages of 16 KiB each
	// on average; a 10-segment text written entirely in \u escapes is
	// under 10 KiB.
	DefaultMaxBatchBodyBytes = 16 << 20
	// streamPoll is how often a stream reads the feed when Config.Events
	// is nil.
	streamPoll = time.Second
)

// Config configures the API. Store is required; zero values take the
// defaults above.
type Config struct {
	Store Store
	// OperatorToken authorises /admin routes (compared in constant time).
	// Empty turns the operator API off: every /admin route answers 401.
	OperatorToken string
	// MaxBodyBytes limits request bodies; larger ones answer 413.
	MaxBodyBytes int64
	// MaxBatchBodyBytes limits the body of POST /v1/messages/batch (413
	// past it); each of its messages is held to MaxBodyBytes as well.
	MaxBatchBodyBytes int64
	// Binds lists the engine's binds for GET /admin/v1/binds; its result is
	// sent as JSON under "binds". Nil lists none.
	Binds func() any
	// ConfigVersion, when set, says which configuration is in force; GET
	// /admin/v1/binds sends it as JSON under "config".
	ConfigVersion func() any
	// Kick is called after messages were queued, so the dispatcher looks
	// at once. Nil: nothing is called.
	Kick func()
	// Events wakes the event streams and is notified after each enqueue.
	// Nil: streams read the feed every second and nothing is notified.
	Events Events
	// Feed, when set, is what the event streams read the change feed
	// through instead of Store: the process's shared inbox.Feed, so that
	// the streams of a workspace (and its webhook endpoints) share one
	// read and each event's JSON is built once.
	Feed ChangeReader
	// Carriers and RateClasses, when not empty, are the names
	// POST /admin/v1/numbers accepts (the engine's configuration). When
	// RateClasses is empty, the classes of Rates are accepted.
	Carriers, RateClasses []string
	// Rates maps each rate class to its rate in segments per second and
	// CarrierRates each carrier to its account's rate (the engine's
	// rate_classes and carriers' tps): GET /v1/sms reports a number's rate
	// and explains waits with them. Nil: rates are reported unknown (null)
	// and waits are not explained.
	Rates, CarrierRates map[string]float64
	// BindsUp, when set, reports whether some bind of a carrier account is
	// up, in any engine process of the deployment (not only this one: the
	// late-SMS answer says "no bind is up" when it returns false). GET
	// /v1/sms reports it per number (measured.binds_up) and names a carrier
	// without a bind as the cause of a waiting queue. Nil: unknown.
	BindsUp func(carrier string) bool
	// DedicatedClass is the rate class of a dedicated local number, whose
	// rate the late-SMS advice quotes; "" means inbox.RateClassDedicated.
	DedicatedClass string
	// WebhookGuard decides which webhook URLs may be registered (the
	// engine's webhooks.allow_private); nil: public addresses only.
	WebhookGuard *webhook.Guard
	// SelfTestTimeout is how long a self-test waits for its probe by
	// default (DefaultSelfTestTimeout).
	SelfTestTimeout time.Duration
	// EnqueueBatch is the most messages one Enqueue call carries: POST
	// /v1/messages requests that arrive while earlier ones are being stored
	// are stored together (group commit). 1 stores each request alone.
	EnqueueBatch int
	// EnqueueWorkers is how many Enqueue calls may run at once.
	EnqueueWorkers int
	// RequestTimeout bounds the store calls of a request; past it the
	// request answers 503. Event streams are not bounded.
	RequestTimeout time.Duration
	// AuthCacheTTL is how long a workspace token, once checked, is
	// trusted without asking the store again (so revoking a token takes
	// effect within it). Negative: every request asks the store. The
	// workspace settings the request path reads (smart_encoding, rate
	// limits) are cached as long, so a change made through another API
	// process takes effect within it too.
	AuthCacheTTL time.Duration
	// Heartbeat is the interval of the comment lines event streams send
	// to keep idle connections open through proxies.
	Heartbeat time.Duration
	// RateLimiter enforces the workspaces' API rate limits (ratelimit.go);
	// nil: no limits, and no rate limit headers.
	RateLimiter RateLimiter
	// RequestsPerSecond and MessagesPerSecond are the default limits of
	// every workspace (the engine's api_limits; 0: no limit); a
	// workspace's own (inbox.RateLimits) replace them.
	RequestsPerSecond, MessagesPerSecond int
	Logger                               *zap.Logger // nil: no logging
}

// Server is the HTTP API. It is safe for concurrent use.
type Server struct {
	cfg     Config
	store   Store
	log     *zap.Logger
	mux     *http.ServeMux
	methods []string // every method some route has, for 405 answers
	opHash  [32]byte // SHA-256 of the operator token
	// catalog is the carriers and rate classes in force: the engine's
	// configuration, replaced whole on a reload (SetCatalog).
	catalog  atomic.Pointer[catalog]
	batch    *batcher
	auth     *ttlCache[[32]byte, inbox.Auth]          // what tokens authenticate as; nil: no cache
	settings *ttlCache[inbox.WorkspaceID, wsSettings] // workspaces' smart encoding default and rate limits; nil: no cache

	closeOnce sync.Once
	closing   chan struct{} // closed by CloseStreams

	enqueueCalls, enqueued, streams  atomic.Int64
	limitedRequests, limitedMessages atomic.Int64
}

// Stats are the API's counters, for metrics.
type Stats struct {
	EnqueueCalls int64 // Enqueue calls made (each may carry many messages)
	Enqueued     int64 // messages passed to Enqueue
	Streams      int64 // event streams open now
	// RateLimitedRequests are requests answered 429 rate_limited for the
	// requests limit; RateLimitedMessages messages refused for the
	// messages limit (a whole request, or items of a batch).
	RateLimitedRequests, RateLimitedMessages int64
}

// Stats returns the API's counters.
func (s *Server) Stats() Stats {
	return Stats{EnqueueCalls: s.enqueueCalls.Load(), Enqueued: s.enqueued.Load(), Streams: s.streams.Load(),
		RateLimitedRequests: s.limitedRequests.Load(), RateLimitedMessages: s.limitedMessages.Load()}
}

// New builds the API. Mount the returned Server at the root of the
// engine's mux (it answers /v1/..., /admin/v1/... and /openapi.json, and a
// JSON 404 for anything else).
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("api: Config.Store is nil")
	}
	if cfg.Feed == nil {
		cfg.Feed = cfg.Store
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxBatchBodyBytes <= 0 {
		cfg.MaxBatchBodyBytes = DefaultMaxBatchBodyBytes
	}
	if cfg.EnqueueBatch <= 0 {
		cfg.EnqueueBatch = DefaultEnqueueBatch
	}
	if cfg.EnqueueWorkers <= 0 {
		cfg.EnqueueWorkers = DefaultEnqueueWorkers
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.AuthCacheTTL == 0 {
		cfg.AuthCacheTTL = DefaultAuthCacheTTL
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.DedicatedClass == "" {
		cfg.DedicatedClass = inbox.RateClassDedicated
	}
	if cfg.SelfTestTimeout <= 0 {
		cfg.SelfTestTimeout = DefaultSelfTestTimeout
	}
	if len(cfg.RateClasses) == 0 {
		for class := range cfg.Rates {
			cfg.RateClasses = append(cfg.RateClasses, class)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	s := &Server{
		cfg:     cfg,
		store:   cfg.Store,
		log:     cfg.Logger,
		mux:     http.NewServeMux(),
		closing: make(chan struct{}),
	}
	s.SetCatalog(cfg.Carriers, cfg.RateClasses, cfg.Rates, cfg.CarrierRates)
	if cfg.OperatorToken != "" {
		s.opHash = sha(cfg.OperatorToken)
	}
	if cfg.AuthCacheTTL > 0 {
		s.auth = newTTLCache[[32]byte, inbox.Auth](cfg.AuthCacheTTL, authCacheMax)
		s.settings = newTTLCache[inbox.WorkspaceID, wsSettings](cfg.AuthCacheTTL, settingsCacheMax)
	}
	s.batch = &batcher{s: s, max: cfg.EnqueueBatch, workers: cfg.EnqueueWorkers}
	seen := map[string]bool{}
	for i := range routes {
		rt := &routes[i]
		s.mux.Handle(rt.method+" "+rt.path, s.wrap(rt))
		if !seen[rt.method] {
			seen[rt.method] = true
			s.methods = append(s.methods, rt.method)
		}
	}
	s.mux.HandleFunc("/", s.noRoute)
	return s, nil
}

// catalog is what the API checks numbers against and explains waits with.
type catalog struct {
	carriers, classes map[string]bool    // nil: any name
	rates             map[string]float64 // rate class → segments/s
	carrierRates      map[string]float64 // carrier account → segments/s
}

// SetCatalog replaces the carriers and rate classes numbers may name, and
// their rates (as in Config), for the requests that start from now on: the
// engine calls it when a reload adds or removes carriers or classes.
func (s *Server) SetCatalog(carriers, classes []string, rates, carrierRates map[string]float64) {
	s.catalog.Store(&catalog{carriers: set(carriers), classes: set(classes), rates: rates, carrierRates: carrierRates})
}

func set(names []string) map[string]bool {
	if len(names) == 0 {
		return nil
	}
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// noRoute answers what no route matches: a JSON 405 when the path exists
// with other methods, else a JSON 404.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range s.methods {
		r2 := r.Clone(r.Context())
		r2.Method = m
		if _, p := s.mux.Handler(r2); p != "" && p != "/" {
			allow = append(allow, m)
		}
	}
	c := &call{s: s, w: &statusWriter{ResponseWriter: w}, r: r, start: time.Now()}
	var err error
	if len(allow) > 0 {
		for _, m := range allow {
			w.Header().Add("Allow", m)
		}
		err = c.fail(errorf(http.StatusMethodNotAllowed, codeMethodNotAllowed, "%s is not allowed here", r.Method))
	} else {
		err = c.fail(errorf(http.StatusNotFound, codeNotFound, "no such route"))
	}
	c.logLine(err)
}

// CloseStreams ends the open event streams (each sends nothing more and
// returns, so its client reconnects, to another process if this one is
// going away) and refuses new ones with 503. Register it with
// http.Server.RegisterOnShutdown: Shutdown waits for open requests, and an
// event stream never ends by itself.
func (s *Server) CloseStreams() {
	s.closeOnce.Do(func() { close(s.closing) })
}
