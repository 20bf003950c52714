// Package api is Switchboard's HTTP API: the workspace API (send, threads,
// number settings, live events) and the operator API (workspaces, numbers,
// binds). The contract is openapi.json, served at /openapi.json; a test
// checks that it lists exactly the routes of the route table (routes.go),
// the only place routes are registered. The API has no SQL of its own:
// everything goes through the inbox (the Store interface lists what it
// uses) and, for binds, a function the engine passes in.
//
// # Wiring (package engine)
//
//	hub, err := events.New(events.Config{Pool: db, Logger: log.Named("events")})
//	defer hub.Close()                     // after the HTTP server has shut down
//	srv, err := api.New(api.Config{
//		Store: store, OperatorToken: cfg.Operator.Token, MaxBodyBytes: cfg.HTTP.MaxBodyBytes,
//		Binds: func() any { return e.binds() }, Kick: dispatcher.Kick, Events: hub,
//		Carriers: carrierNames, RateClasses: classNames, Logger: log.Named("api"),
//		Rates: classRates, CarrierRates: carrierTPS, // GET /v1/sms's late-SMS answer (late.go)
//		BindsUp: bindsUp, // optional: whether some process has a bind of a carrier up
//	})
//	mux.Handle("/", srv)                  // /v1/..., /admin/v1/..., /openapi.json, JSON 404s
//	httpSrv.RegisterOnShutdown(srv.CloseStreams)
//
// and hub.Notify() after each commit that creates messages or changes their
// status (AppendInbound, Claim, RecordSubmits, Requeue, ApplyReceipts,
// ExpireMessages): it never blocks and sends at most one notification per
// 20 ms. The API notifies after its own enqueues.
//
// # Requests and answers
//
// Workspace routes take "Authorization: Bearer <workspace token>", checked
// with the store (a success is cached for AuthCacheTTL, 5 s, under the
// token's hash); operator routes take the operator token, compared in
// constant time (through SHA-256, so its length does not leak either).
// Each kind is refused (401) on the other's routes. Another workspace's
// objects are 404, as if they did not exist. A workspace route may need a
// scope (the route table's scope: messages to send and read
// conversations, settings to change numbers and number requests); a token
// without it is 403 forbidden, the error naming missing_scope. The event
// stream sends each token only the events its scopes cover.
//
// Tenant self-service: custom number requests (requests.go), tokens
// (tokens.go, operator), the late-SMS report of GET /v1/sms (late.go),
// number self-tests (selftest.go) and unrouted messages (unrouted.go).
// Segment quotas (quota.go): the operator's caps and time zone, 429
// quota_exceeded, what is used in GET /v1/sms and GET /v1/usage, and the
// quota.threshold events.
//
// Bodies are JSON objects of at most MaxBodyBytes (413 past it), decoded
// strictly: unknown fields, data after the object, wrong types and bodies
// that are not UTF-8 are 400. Errors are {"error": {"code", "message"}};
// the codes and statuses are listed in errors.go and in the OpenAPI
// document. When the database cannot be reached (connection refused or
// lost, pool closed, server shutting down or out of connections, a store
// call past RequestTimeout), the answer is 503 unavailable with
// Retry-After: 1, never 500, so a load balancer retries elsewhere.
//
// Ids are strings of decimal digits (64-bit values do not survive
// JavaScript numbers). Lists page with opaque cursors and answer
// next_cursor, null after the last page.
//
// # Sending
//
// POST /v1/messages computes the encoding (coding.Choose: GSM7, else UCS2)
// and the billed segments (coding.Count with the 8-bit reference UDH) before
// the store sees the message; text that is not valid Unicode is 422
// invalid_text, more than 10 segments 422 message_too_long (from the
// inbox, after its add-on and idempotency checks). A repeated client_ref
// answers 200 with the first message as it is now and
// Idempotent-Replayed: true; the same client_ref with another to, text or
// from is 409 client_ref_conflict.
//
// POST /v1/messages/batch takes {"messages": [...]}, 1 to
// MaxBatchMessages bodies of POST /v1/messages, and answers 200 with a
// result per item in request order: {"status", "message"} with the
// status and body the single route would have answered (202, or 200 for a
// repeated client_ref), or {"status", "error"} with its error object. Both
// routes share the checks and the answers (parseOutgoing, answer). The
// valid items go to the store in one Enqueue call (one transaction), not
// through the group commit, and the answer comes after the commit; a
// database error is 503 for the whole request, with nothing stored. Only
// a body that is not such an object is refused whole (400; 413 past
// MaxBatchBodyBytes, 16 MiB; each item is held to MaxBodyBytes, 413 for
// that item). Items repeating an earlier item's client_ref are answered
// as repeats of it (the inbox's rule for one Enqueue call): its message
// (200) or 409 client_ref_conflict when the content differs, or its
// refusal when it was refused.
//
// Group commit: the inbox stores a batch in one statement whose fixed cost
// (planning, commit) dominates small calls, so concurrent sends share an
// Enqueue call. A request that finds fewer than EnqueueWorkers calls in
// flight makes one at once with everything waiting (up to EnqueueBatch);
// otherwise it waits for the next. An idle server adds no delay, a busy
// one fills batches. Each request gets its own result; a database error
// fails every request of the batch (503), and nothing of it was stored.
//
// # Event stream
//
// GET /v1/events is a server-sent event stream of the workspace's changes
// (inbox.Store.Changes), woken by an Events (events.Hub: LISTEN/NOTIFY
// across processes plus a 1 s poll). See stream.go for the format and
// resume rules. Each open stream reads the feed once per wake-up (at most
// 20 per second while notifications flow, once a second when idle); an
// index range scan that finds nothing costs about 0.1 ms of database time.
package api
