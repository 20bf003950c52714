package smscsim

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/coding"
	"github.com/switchboard-sms/switchboard/smpp/smpptest"
)

// compiled is a checked Config, ready to run.
type compiled struct {
	cfg       Config
	listeners []listenerSpec
	accounts  []*account
	byID      map[string]*account
}

type listenerSpec struct {
	name    string
	addr    string
	tls     *TLSConfig
	allowed map[string]bool // nil: all accounts
}

// account is an account at run time: its compiled behaviour, its rate
// limits and windows, its bound connections and its counters.
type account struct {
	sim *Sim
	id  string
	pw  string

	allow     [3]bool // by smpp.BindType
	maxBinds  int
	window    int64
	latency   Dist
	idFmt     IDFormat
	rcptFmt   IDFormat
	nextID    atomic.Uint64
	receipts  bool
	rcptDelay Dist
	outcomes  Outcomes
	before    float64
	beforeGap int64
	numbers   []string
	numberSet numberSet
	loop      numberSet
	loopDelay Dist
	mo        moSpec
	dropEvery int64
	dropAfter int64
	muteEvery int64
	muteFor   int64
	fails     Failures
	scripts   bool

	// Rate limits and sliding windows, under mu. In bucket mode the
	// buckets limit, in sliding mode the slidingLimits (the others then
	// allow everything).
	mu        sync.Mutex
	sliding   bool  // rate.mode sliding
	span      int64 // rate.interval in sliding mode, else one second
	bucket    gcra
	lim       slidingLimit
	srcTmpl   srcLimits            // template of each source's limit
	srcRates  map[string]srcLimits // per-number templates
	win       slidingMax           // one second: max_per_second
	iwin      slidingMax           // span, when not one second: max_in_interval
	sources   map[string]*source
	other     *source // sources beyond maxSources
	acceptedN int64   // accepted submit_sm, under mu with the windows

	// hook, when set (tests), sees every admission decision, under mu.
	hook func(acct, src string, now int64, segs, verdict int)

	// Bound connections and the backlog, under bmu. Lock order: a conn's
	// lock may be held when bmu is taken, never the other way round.
	bmu            sync.Mutex
	conns          []*conn
	rr             int
	backlog        []smpptest.Item
	backlogLimit   int
	backlogDropped int64

	st acctCounters

	// Statuses of answers, under smu.
	smu          sync.Mutex
	respStatus   map[smpp.Status]int64 // submit_sm_resp statuses other than ESME_ROK
	receiptResps map[string]int64      // deliver_sm_resp to receipts, by status name
	moResps      map[string]int64      // deliver_sm_resp to MO parts, by status name
}

type acctCounters struct {
	binds, bindsRefused, bound, maxOutstanding atomic.Int64
	submits, accepted, segments                atomic.Int64
	throttled, throttledAcct, throttledSrc     atomic.Int64
	queueFull, injected, dropped, scriptErrors atomic.Int64
	receipts, moMessages, moParts, loopbacks   atomic.Int64
	moSkipped, drops, mutedDrops               atomic.Int64
	receiptRetries, moRetries                  atomic.Int64 // sent again (unacknowledged or a temporary error)
	validityExpired                            atomic.Int64 // accepted, then expired at their validity_period
}

// source is one source_addr's limit, windows and counters (under account.mu).
type source struct {
	addr      string
	bucket    gcra
	lim       slidingLimit
	win       slidingMax // one second
	iwin      slidingMax // the account's span, when not one second
	accepted  int64
	segments  int64
	throttled int64
}

// srcLimits is a source's limit as configured: a bucket or a sliding limit.
type srcLimits struct {
	bucket gcra
	lim    slidingLimit
}

// maxSlidingLimit caps N in sliding mode: a limit keeps up to N arrival
// times (8 octets each).
const maxSlidingLimit = 10_000_000

// moSpec is a compiled MOConfig.
type moSpec struct {
	rate     float64
	from, to []string
	texts    []string
	long     float64
	methods  []coding.Method
	ucs2     float64
	keywords float64
}

func compile(c *Config) (*compiled, error) {
	var e configError
	out := &compiled{cfg: *c, byID: map[string]*account{}}
	if c.SystemID != "" && len(c.SystemID) > 15 {
		e.add("system_id", "%q is longer than 15 characters", c.SystemID)
	}
	if c.Backlog < 0 {
		e.add("backlog", "must be ≥ 0, got %d", c.Backlog)
	}
	if len(c.Accounts) == 0 {
		e.add("accounts", "at least one account is needed")
	}
	for i := range c.Accounts {
		path := fmt.Sprintf("accounts[%d]", i)
		a := compileAccount(&c.Accounts[i], path, &e)
		if a == nil {
			continue
		}
		a.hook = c.admitHook
		a.backlogLimit = c.Backlog
		if a.backlogLimit == 0 {
			a.backlogLimit = DefaultBacklog
		}
		if _, dup := out.byID[a.id]; dup {
			e.add(path+".system_id", "%q is already the system_id of another account", a.id)
			continue
		}
		out.byID[a.id] = a
		out.accounts = append(out.accounts, a)
	}
	ls := c.Listeners
	if len(ls) == 0 {
		ls = []ListenerConfig{{Name: "default", Addr: DefaultListenAddr}}
	}
	names := map[string]bool{}
	for i, l := range ls {
		path := fmt.Sprintf("listeners[%d]", i)
		spec := listenerSpec{name: l.Name, addr: l.Addr, tls: l.TLS}
		if spec.name == "" {
			spec.name = fmt.Sprintf("listener%d", i)
			if len(ls) == 1 {
				spec.name = "default"
			}
		}
		if names[spec.name] {
			e.add(path+".name", "%q names another listener too", spec.name)
		}
		names[spec.name] = true
		if spec.addr == "" {
			e.add(path+".addr", "required (host:port, e.g. 127.0.0.1:2775)")
		} else if !strings.Contains(spec.addr, ":") {
			e.add(path+".addr", "%q is not host:port", spec.addr)
		}
		if t := l.TLS; t != nil {
			switch {
			case t.SelfSigned && (t.Cert != "" || t.Key != ""):
				e.add(path+".tls", "either cert and key, or self_signed")
			case !t.SelfSigned && (t.Cert == "" || t.Key == ""):
				e.add(path+".tls", "cert and key are both required (or self_signed: true)")
			}
		}
		if len(l.Accounts) > 0 {
			spec.allowed = map[string]bool{}
			for j, id := range l.Accounts {
				if _, ok := out.byID[id]; !ok {
					e.add(fmt.Sprintf("%s.accounts[%d]", path, j), "no account has system_id %q", id)
				}
				spec.allowed[id] = true
			}
		}
		out.listeners = append(out.listeners, spec)
	}
	if err := e.err(); err != nil {
		return nil, err
	}
	return out, nil
}

// compileAccount checks one account (path is "accounts[i]") and returns it
// ready to run, or nil after adding its problems to e. Each step checks
// one part of the configuration and sets the account's fields from it.
func compileAccount(c *AccountConfig, path string, e *configError) *account {
	n0 := len(e.msgs)
	a := &account{
		id: c.SystemID, pw: c.Password, maxBinds: c.MaxBinds, window: int64(c.Window),
		receipts: !c.Receipts.Disabled, before: c.Receipts.BeforeResp, beforeGap: int64(c.Receipts.BeforeRespGap),
		dropEvery: int64(c.Faults.DropEvery), dropAfter: int64(c.Faults.DropAfterPDUs),
		muteEvery: int64(c.Faults.MuteEvery), muteFor: int64(c.Faults.MuteFor), scripts: !c.Faults.NoScripts,
		sources: map[string]*source{}, respStatus: map[smpp.Status]int64{},
		receiptResps: map[string]int64{}, moResps: map[string]int64{},
	}
	compileBind(a, c, path, e)
	compileRate(a, &c.Rate, path+".rate", e)
	compileAnswers(a, c, path, e)
	compileReceipts(a, &c.Receipts, path+".receipts", e)
	compileNumbers(a, c, path, e)
	compileMO(a, &c.MO, path+".mo", e)
	compileFaults(a, &c.Faults, path+".faults", e)
	if len(e.msgs) > n0 {
		return nil
	}
	return a
}

// compileBind checks the credentials, the bind types allowed, max_binds and
// the window.
func compileBind(a *account, c *AccountConfig, path string, e *configError) {
	switch {
	case c.SystemID == "":
		e.add(path+".system_id", "required")
	case len(c.SystemID) > 15:
		e.add(path+".system_id", "%q is longer than 15 characters", c.SystemID)
	}
	if len(c.Password) > 8 {
		e.add(path+".password", "longer than 8 characters (SMPP 3.4's limit)")
	}
	if len(c.BindTypes) == 0 {
		a.allow = [3]bool{true, true, true}
	}
	for i, bt := range c.BindTypes {
		switch strings.ToLower(strings.TrimSpace(bt)) {
		case BindTransceiver, "trx":
			a.allow[smpp.BindTransceiver] = true
		case BindTransmitter, "tx":
			a.allow[smpp.BindTransmitter] = true
		case BindReceiver, "rx":
			a.allow[smpp.BindReceiver] = true
		default:
			e.add(fmt.Sprintf("%s.bind_types[%d]", path, i), "%q is not transceiver, transmitter or receiver", bt)
		}
	}
	if c.MaxBinds < 0 {
		e.add(path+".max_binds", "must be ≥ 0, got %d", c.MaxBinds)
	}
	if c.Window < 0 {
		e.add(path+".window", "must be ≥ 0, got %d", c.Window)
	}
}

// compileAnswers checks the latency of responses and the message ids of
// responses and receipts.
func compileAnswers(a *account, c *AccountConfig, path string, e *configError) {
	var err error
	if a.latency, err = ParseDist(c.Latency); err != nil {
		e.add(path+".latency", "%v", err)
	}
	if a.idFmt, err = ParseIDFormat(c.MessageID); err != nil {
		e.add(path+".message_id", "%v", err)
	}
	a.rcptFmt = a.idFmt
	if c.ReceiptID != "" {
		if a.rcptFmt, err = ParseIDFormat(c.ReceiptID); err != nil {
			e.add(path+".receipt_id", "%v", err)
		}
	}
	start := c.IDStart
	if start == 0 {
		start = 1
	}
	a.nextID.Store(start - 1)
}

// compileReceipts checks the receipts' delay, outcomes and order (path is
// "accounts[i].receipts").
func compileReceipts(a *account, r *ReceiptConfig, path string, e *configError) {
	var err error
	if a.rcptDelay, err = ParseDist(r.Delay); err != nil {
		e.add(path+".delay", "%v", err)
	}
	if a.outcomes, err = ParseOutcomes(r.Outcomes); err != nil {
		e.add(path+".outcomes", "%v", err)
	}
	if f := r.BeforeResp; f < 0 || f > 1 || f != f {
		e.add(path+".before_resp", "must be a fraction 0..1, got %v", f)
	}
	if r.BeforeRespGap < 0 {
		e.add(path+".before_resp_gap", "must be ≥ 0")
	}
}

// compileNumbers checks the account's numbers and its loopback numbers.
func compileNumbers(a *account, c *AccountConfig, path string, e *configError) {
	var err error
	if a.numbers, err = expandNumbers(c.Numbers); err != nil {
		e.add(path+".numbers", "%v", err)
	}
	a.numberSet = newNumberSet(a.numbers)
	loop, err := expandNumbers(c.Loopback.Numbers)
	if err != nil {
		e.add(path+".loopback.numbers", "%v", err)
	}
	a.loop = newNumberSet(loop)
	if a.loopDelay, err = ParseDist(c.Loopback.Delay); err != nil {
		e.add(path+".loopback.delay", "%v", err)
	}
}

// compileMO checks the generated MO traffic (path is "accounts[i].mo");
// its destinations default to the account's numbers, so it runs after
// compileNumbers.
func compileMO(a *account, m *MOConfig, path string, e *configError) {
	a.mo = moSpec{rate: m.Rate, long: m.Long, ucs2: m.UCS2, keywords: m.Keywords}
	if m.Rate < 0 || m.Rate != m.Rate || m.Rate > 100_000 {
		e.add(path+".rate", "must be 0..100000 messages per second, got %v", m.Rate)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"long", m.Long}, {"ucs2", m.UCS2}, {"keywords", m.Keywords}} {
		if f.v < 0 || f.v > 1 || f.v != f.v {
			e.add(path+"."+f.name, "must be a fraction 0..1, got %v", f.v)
		}
	}
	var err error
	if a.mo.from, err = expandNumbers(m.From); err != nil {
		e.add(path+".from", "%v", err)
	}
	if a.mo.to, err = expandNumbers(m.To); err != nil {
		e.add(path+".to", "%v", err)
	}
	if len(a.mo.to) == 0 {
		a.mo.to = a.numbers
	}
	if m.Rate > 0 {
		if len(a.mo.from) == 0 {
			e.add(path+".from", "required when mo.rate is set (the contacts' numbers)")
		}
		if len(a.mo.to) == 0 {
			e.add(path+".to", "required when mo.rate is set and the account has no numbers")
		}
	}
	for i, name := range m.Methods {
		meth, err := parseMethod(name)
		if err != nil {
			e.add(fmt.Sprintf("%s.methods[%d]", path, i), "%v", err)
		}
		a.mo.methods = append(a.mo.methods, meth)
	}
	if len(a.mo.methods) == 0 {
		a.mo.methods = []coding.Method{coding.UDH8}
	}
	if m.TextsFile != "" {
		texts, err := readTexts(m.TextsFile)
		if err != nil {
			e.add(path+".texts_file", "%v", err)
		}
		a.mo.texts = texts
	}
}

// compileFaults checks the injected faults (path is "accounts[i].faults").
func compileFaults(a *account, f *FaultConfig, path string, e *configError) {
	if f.DropEvery < 0 {
		e.add(path+".drop_every", "must be ≥ 0")
	}
	if f.DropAfterPDUs < 0 {
		e.add(path+".drop_after_pdus", "must be ≥ 0")
	}
	switch {
	case f.MuteEvery < 0 || f.MuteFor < 0:
		e.add(path, "mute_every and mute_for must be ≥ 0")
	case (f.MuteEvery > 0) != (f.MuteFor > 0):
		e.add(path, "mute_every and mute_for go together")
	case f.MuteFor > f.MuteEvery:
		e.add(path+".mute_for", "%v is longer than mute_every %v", f.MuteFor, f.MuteEvery)
	}
	var err error
	if a.fails, err = ParseFailures(f.Fail); err != nil {
		e.add(path+".fail", "%v", err)
	}
}

// compileRate checks the rate limits (path is "accounts[i].rate") and sets
// the account's buckets or sliding limits.
func compileRate(a *account, r *RateConfig, path string, e *configError) {
	modeOK := true
	switch strings.ToLower(strings.TrimSpace(r.Mode)) {
	case "", RateBucket:
	case RateSliding:
		a.sliding = true
	default:
		modeOK = false
		e.add(path+".mode", "must be bucket or sliding, got %q", r.Mode)
	}
	a.span = second
	switch {
	case r.Interval < 0:
		e.add(path+".interval", "must be > 0, got %v", r.Interval)
	case r.Interval > 0 && modeOK && !a.sliding:
		e.add(path+".interval", "only with mode: sliding (bucket rates are per second)")
	case r.Interval > 0:
		a.span = int64(r.Interval)
	}
	a.iwin.span = a.span
	// limit checks one limit (field p, burst field bp) and returns it.
	limit := func(p string, rate float64, bp string, burst int) srcLimits {
		if !a.sliding {
			if rate < 0 || rate != rate {
				e.add(p, "must be ≥ 0 segments per second, got %v", rate)
			}
			if burst < 0 {
				e.add(bp, "must be ≥ 0, got %d", burst)
			}
			return srcLimits{bucket: newGCRA(rate, burst)}
		}
		if burst != 0 {
			e.add(bp, "not used in sliding mode (the limit is %v segments in any %v)", rate, time.Duration(a.span))
		}
		if !(rate >= 0 && rate <= maxSlidingLimit && rate == math.Trunc(rate)) {
			e.add(p, "must be a whole number of segments per interval in sliding mode, 1 to %d (0: no limit), got %v", maxSlidingLimit, rate)
			return srcLimits{}
		}
		return srcLimits{lim: newSlidingLimit(int(rate), a.span)}
	}
	acct := limit(path+".account", r.Account, path+".account_burst", r.AccountBurst)
	a.bucket, a.lim = acct.bucket, acct.lim
	a.srcTmpl = limit(path+".source", r.Source, path+".source_burst", r.SourceBurst)
	for i, sr := range r.Sources {
		p := fmt.Sprintf("%s.sources[%d]", path, i)
		l := limit(p+".rate", sr.Rate, p+".burst", sr.Burst)
		if len(sr.Numbers) == 0 {
			e.add(p+".numbers", "required")
		}
		nums, err := expandNumbers(sr.Numbers)
		if err != nil {
			e.add(p+".numbers", "%v", err)
		}
		if a.srcRates == nil {
			a.srcRates = map[string]srcLimits{}
		}
		for _, n := range nums {
			a.srcRates[n] = l
		}
	}
}

func parseMethod(s string) (coding.Method, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "udh8", "udh":
		return coding.UDH8, nil
	case "udh16":
		return coding.UDH16, nil
	case "sar":
		return coding.SAR, nil
	case "payload", "message_payload":
		return coding.Payload, nil
	}
	return 0, fmt.Errorf("%q is not udh8, udh16, sar or payload", s)
}

func readTexts(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if t := strings.TrimRight(sc.Text(), "\r"); strings.TrimSpace(t) != "" {
			out = append(out, t)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no text", path)
	}
	return out, nil
}

// Admission verdicts.
const (
	admitOK = iota
	admitAccount
	admitSource
)

// admit applies the account's and the source's limits to a submit_sm of
// segs segments from src and, when it passes, counts it in the sliding
// windows. It returns the verdict and the arrival time (Sim.now) it was
// judged at. The clock is read under the lock so window times never go
// back.
func (a *account) admit(src []byte, segs int) (int, int64) {
	if a.sliding {
		return a.admitSliding(src, segs)
	}
	a.mu.Lock()
	now := a.sim.now()
	s := a.sources[string(src)] // no allocation for the lookup
	if s == nil {
		s = a.newSource(src)
	}
	verdict := admitOK
	switch {
	case !a.bucket.allows(now, segs):
		verdict = admitAccount
	case !s.bucket.allows(now, segs):
		verdict = admitSource
	}
	if a.hook != nil {
		a.hook(a.id, string(src), now, segs, verdict)
	}
	if verdict != admitOK {
		s.throttled++
		a.mu.Unlock()
		return verdict, now
	}
	a.bucket.take(now, segs)
	s.bucket.take(now, segs)
	a.win.add(now, segs)
	s.win.add(now, segs)
	s.accepted++
	s.segments += int64(segs)
	a.acceptedN++
	a.mu.Unlock()
	return admitOK, now
}

// admitSliding is admit in sliding mode. It is a copy of admit's shape
// over the sliding limits rather than one path behind an interface: the
// bucket path is the simulator's hot path in benchmarks and stays free of
// the dynamic calls (measured in BenchmarkSimSubmitRated).
func (a *account) admitSliding(src []byte, segs int) (int, int64) {
	a.mu.Lock()
	now := a.sim.now()
	s := a.sources[string(src)]
	if s == nil {
		s = a.newSource(src)
	}
	verdict := admitOK
	switch {
	case !a.lim.allows(now, segs):
		verdict = admitAccount
	case !s.lim.allows(now, segs):
		verdict = admitSource
	}
	if a.hook != nil {
		a.hook(a.id, string(src), now, segs, verdict)
	}
	if verdict != admitOK {
		s.throttled++
		a.mu.Unlock()
		return verdict, now
	}
	a.lim.take(now, segs)
	s.lim.take(now, segs)
	a.win.add(now, segs)
	s.win.add(now, segs)
	if a.span != second {
		a.iwin.add(now, segs)
		s.iwin.add(now, segs)
	}
	s.accepted++
	s.segments += int64(segs)
	a.acceptedN++
	a.mu.Unlock()
	return admitOK, now
}

// newSource starts tracking a source. Called with mu held.
func (a *account) newSource(src []byte) *source {
	if len(a.sources) >= maxSources {
		if a.other == nil {
			a.other = &source{addr: "(other)", bucket: a.srcTmpl.bucket, lim: a.srcTmpl.lim, iwin: slidingMax{span: a.span}}
			a.sources[a.other.addr] = a.other
		}
		return a.other
	}
	key := string(src)
	l, ok := a.srcRates[string(trimPlusB(src))]
	if !ok {
		l = a.srcTmpl
	}
	s := &source{addr: key, bucket: l.bucket, lim: l.lim, iwin: slidingMax{span: a.span}}
	a.sources[key] = s
	return s
}

// register adds a bound connection, refusing it when the account has its
// maximum of binds. A receiver or transceiver takes the backlog.
func (a *account) register(c *conn) (ok bool, backlog []smpptest.Item) {
	a.bmu.Lock()
	defer a.bmu.Unlock()
	if a.maxBinds > 0 && len(a.conns) >= a.maxBinds {
		return false, nil
	}
	a.conns = append(a.conns, c)
	a.st.bound.Store(int64(len(a.conns)))
	if c.BindType() != smpp.BindTransmitter {
		backlog, a.backlog = a.backlog, nil
	}
	return true, backlog
}

func (a *account) unregister(c *conn) {
	a.bmu.Lock()
	for i, x := range a.conns {
		if x == c {
			a.conns = append(a.conns[:i], a.conns[i+1:]...)
			break
		}
	}
	a.st.bound.Store(int64(len(a.conns)))
	a.bmu.Unlock()
}

// pickLocked returns the next receiver or transceiver in turn. Called with
// bmu held.
func (a *account) pickLocked() *conn {
	n := len(a.conns)
	for i := 0; i < n; i++ {
		c := a.conns[(a.rr+i)%n]
		if c.Receives() {
			a.rr = (a.rr + i + 1) % n
			return c
		}
	}
	return nil
}

// hasReceiver reports whether a receiver or transceiver is bound.
func (a *account) hasReceiver() bool {
	a.bmu.Lock()
	defer a.bmu.Unlock()
	for _, c := range a.conns {
		if c.Receives() {
			return true
		}
	}
	return false
}

// deliver hands an item (a receipt or a deliver_sm) to a bound receiver or
// transceiver, or keeps it in the backlog until one binds. It must not be
// called with a conn's lock held.
func (a *account) deliver(it smpptest.Item) {
	for {
		a.bmu.Lock()
		c := a.pickLocked()
		if c == nil {
			if len(a.backlog) >= a.backlogLimit {
				a.backlogDropped++
				a.bmu.Unlock()
				it.Abandon()
				return
			}
			a.backlog = append(a.backlog, it)
			a.bmu.Unlock()
			return
		}
		a.bmu.Unlock()
		if c.Schedule(it) {
			return
		}
		// c is closing: it has left a.conns, so the next pick differs.
	}
}

func (a *account) countResp(m map[string]int64, st smpp.Status, lost bool) {
	a.smu.Lock()
	if lost {
		m["lost"]++
	} else {
		m[st.String()]++
	}
	a.smu.Unlock()
}

func (a *account) countStatus(st smpp.Status) {
	a.smu.Lock()
	a.respStatus[st]++
	a.smu.Unlock()
}
