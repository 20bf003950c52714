// Package smscsim is Switchboard's carrier simulator: an SMSC that binds
// ESMEs over SMPP 3.4 and behaves the way real carriers do, including the
// ways that break engines — throttling (ESME_RTHROTTLED 0x58) per account
// and per source number, a full queue (ESME_RMSGQFUL 0x14) past a window,
// slow and long-tailed answers, receipts that arrive before their
// submit_sm_resp, message ids written differently in the response and the
// receipt, dropped and hung connections, and mobile-originated traffic with
// long messages in UDH or SAR parts, UCS-2 texts and STOP/START keywords.
//
// It speaks SMPP only through package smpp's codec. Start(Config) runs one
// in-process (tests, the bench); cmd/smscsim is the binary. Configuration
// comes from YAML (LoadConfig; configs/smscsim.yaml is a full example) or
// flags (NewFlags); compact value syntaxes are shared: ParseDist (latency),
// ParseOutcomes (receipt mix), ParseFailures (injected statuses),
// ParseIDFormat (message ids), and fault scripts carried in message texts
// (ParseScript, the idea of smppsink).
//
// # Connections
//
// The simulator runs on smpptest.Core, the connection engine it shares
// with smpptest.Server: each connection has one reader goroutine, which
// parses with an smpp.Reader and decides each answer in place, and one
// writer goroutine, which owns a timer heap of delayed answers, receipts
// and deliver_sm, and sends everything queued since its last write in one
// Write. No goroutine per message, no I/O under a lock; answering a
// submit_sm on the instant path allocates nothing. Session rules follow
// SMPP 3.4 §7: one bind per connection (a second gets ESME_RALYBND),
// requests before a bind get ESME_RINVBNDSTS, an unknown command_id gets
// generic_nack ESME_RINVCMDID, a bad command_length gets generic_nack
// ESME_RINVCMDLEN and the connection is closed. data_sm, submit_multi,
// query_sm, cancel_sm and replace_sm are answered ESME_RINVCMDID (not
// simulated). What the simulator decides per connection — the account a
// bind belongs to, what a submit_sm meets, receipts, MO and the counters —
// is its smpptest.ConnHandler (conn.go: the bind's life; submit.go: a
// submit_sm).
//
// # What a submit_sm meets, in order
//
//  1. the window: more than Window unanswered on the bind → 0x14;
//  2. a fault script in the text ({submit:{status:…}}), else faults.fail;
//  3. the rate limits, account then source, in segments → 0x58: token
//     buckets, or in sliding mode at most N segments whose arrivals fall in
//     any interval of the configured length (see RateConfig);
//  4. acceptance: a message id from the account's counter, the latency
//     before the response, a receipt when registered_delivery asks (outcome
//     from the mix, delay from its distribution, maybe before the
//     response), a loopback MO when the destination is a loopback number.
//     A validity_period (SMPP 3.4 §7.1.1, absolute or relative) that ends
//     before the receipt's time expires the message: the receipt says
//     EXPIRED and comes when the validity ends; a malformed one is
//     answered ESME_RINVEXPIRY (0x62).
//
// Receipts (deliver_sm, esm_class 0x04) carry receipted_message_id and
// message_state TLVs, network_error_code on failure, and the text
// "id:… sub:001 dlvrd:… submit date:YYMMDDhhmm done date:YYMMDDhhmm
// stat:DELIVRD err:000 text:…" (SMPP 3.4 Appendix B; see
// ../../shared/notes/smpp34-reference.md §5). A transceiver gets its
// receipts on its own connection; a transmitter's go to a receiver or
// transceiver of the same account. Receipts and MO messages that cannot be
// sent (no receiver bound, the connection closed) wait in the account's
// backlog for its next receiver.
//
// # Observing
//
// Sim.Stats gives totals, Sim.Report the full report (per account and per
// source number: accepted, throttled, the most segments in any sliding
// one-second window and in any window of the rate interval, how close the
// traffic came to a sliding limit, the most outstanding on a bind,
// receipts and MO sent
// and their deliver_sm_resp statuses), also served as JSON by GET /stats
// and written to Config.Report on Close. Config.Log appends each accepted
// submit_sm to a JSONL file; Config.Logger receives connection events. POST
// /mo and Sim.InjectMO deliver a message "from a contact" now.
package smscsim
