// Package webhook delivers a workspace's events to the HTTP endpoints it
// registered (issue 16 §1), signed as the Standard Webhooks specification
// says (https://www.standardwebhooks.com): headers webhook-id,
// webhook-timestamp and webhook-signature, the last "v1," and the base64
// HMAC-SHA256 of "id.timestamp.body" under each valid secret, separated by
// spaces.
//
// Where events come from. Nothing is written for webhooks on the send and
// receive paths. Each endpoint keeps cursors into the inbox change feed
// (inbox.Store.Changes: message statuses, inbound messages, number
// requests, quota thresholds) and into the number events; the engine process holding the
// endpoint's lease (inbox.Store.ClaimWebhooks) reads after them, sends the
// events the endpoint subscribes to at once, and then, in one statement,
// writes them into its outbox in the state that attempt left them
// (delivered, pending a retry, failed), logs the attempts and moves the
// cursors (inbox.Store.RecordWebhookBatch). A delivered event costs one
// outbox row and one log row; only a failed one is written again (its
// retries: inbox.Store.DueWebhookEvents, RecordWebhookAttempts). A crash
// before that commit leaves the cursors as they were: the events are made
// again from the same changes, with the same ids, and sent again.
//
// Cost. The endpoints of a workspace read the feed through the process's
// inbox.Feed (Config.Feed), shared with the event streams of GET
// /v1/events: one read of the database after each wake-up serves them
// all, and an event's body is built once per change (inbox.Memo), not per
// endpoint. Each attempt is signed with a Signer (each key's HMAC state
// reused) and sent over kept-alive HTTP/1.1 connections, each request
// written and its answer read by the goroutine sending it (no
// net/http Transport loops in between: poster in client.go).
//
// Rotation. Before it sends a round, the deliverer reads the endpoint's
// row (inbox.Store.WebhookTarget, after the reads that found the round's
// events): a rotated secret signs every delivery of an event made after
// the rotation, with the previous secret's signature beside it while it
// is valid; a new URL or subscription applies alike.
//
// Guarantees. At least once: a fresh event is sent before its batch is
// recorded, and a retry stays pending until a 2xx answer is recorded; a
// process killed mid-delivery sends them again (or its successor does:
// the endpoint's lease passes to another process within LeaseTTL). A message's
// status never goes backwards at the receiver: the feed shows each message
// at its latest status only, and a newer status event supersedes a pending
// older one (at most one pending per message and endpoint), so an older
// status is never sent after a newer one (a replay, asked for by the
// tenant, is the exception). Intermediate statuses a message passed
// through between two reads of the feed are not sent: the receiver gets
// its status as it is.
//
// Retries: exponential backoff with full jitter from RetryMin to RetryMax,
// a Retry-After answer honoured, for RetryFor (24 h) after the event was
// made; 410 Gone disables the endpoint; an endpoint failing for
// FailingLimit (3 days) is disabled and the workspace's other endpoints get
// a webhook.disabled event. Each request has Timeout (10 s) in all;
// redirects are not followed (a 3xx is a failure). Targets are checked at
// dial time (Guard): loopback, private, link-local and other non-public
// addresses are refused unless the operator's configuration allows them,
// so a name that resolves to one is refused too.
package webhook
