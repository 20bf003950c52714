// Package routing moves messages between the inbox and the carriers: the
// Dispatcher (queued message → limiter → bind) and the Router (deliver_sm →
// delivery receipt or thread).
//
// It knows neither PostgreSQL nor Redis: it defines the small interfaces it
// needs — OutboundStore and InboundStore (the inbox implements them), Limiter
// (the throttle), Submitter (an smpp.Pool) — and the engine's main joins
// concrete parts to them. It uses package smpp's types for the wire.
//
// Guarantees it keeps, with the store's help:
//   - a segment is submitted at most once per claim; a message is released
//     (its results recorded, or requeued) before another claim can take it;
//     only segments in flight when a process dies may be sent again;
//   - messages to one contact from one number go out in the order they were
//     accepted (the store hands out one message per pair at a time);
//   - a deliver_sm is answered only after what it carries is committed;
//     a failed commit answers ESME_RX_T_APPN so the carrier resends.
package routing
