// Package smpptest provides fake SMPP 3.4 SMSCs for tests, benchmarks and
// the carrier simulator: Core, the connection engine every fake here runs
// on; Server, a fake SMSC for tests that binds ESMEs, answers their
// requests with faults injected on demand, sends delivery receipts and
// deliver_sm, and records what it received; a scripted peer (RunScript) for
// byte-level tests that Expect and Send PDUs in a fixed order; and the
// harness of the fakes' own tests (Client, Pipeline, StartChild,
// CheckLeaks).
//
// It speaks SMPP through package smpp's codec only.
//
// # Core
//
// A Core accepts connections (Serve) and runs each as a Conn: one reader
// goroutine, which parses with an smpp.Reader and answers in place, and
// one writer goroutine, which owns a timer heap of delayed answers,
// receipts and deliver_sm and sends everything queued since its last write
// in one Write. No I/O happens under a lock. Answering a submit_sm, with or
// without latency or a receipt, allocates nothing in the steady state.
//
// The Conn applies the session rules of SMPP 3.4 §7 (see
// ../../shared/notes/smpp34-reference.md §7): one bind per connection (a
// second gets ESME_RALYBND), requests before a bind get ESME_RINVBNDSTS, a
// submit_sm over the window gets ESME_RMSGQFUL at once, an unknown
// command_id gets generic_nack ESME_RINVCMDID with its sequence number and
// the connection is kept, a bad command_length gets generic_nack
// ESME_RINVCMDLEN with sequence number 0 and the connection is closed,
// enquire_link is answered in any state. It also applies the faults common
// to fake carriers: mute (a hung SMSC), hold and release, drops (after n
// PDUs, after a time, at once), a slow reader dropped past 64 MiB unread.
// What a fake decides — credentials, the status of each submit_sm, its
// latency, message ids, receipts and what to count — is its ConnHandler,
// one per connection; package smscsim (the carrier simulator) is one,
// Server another.
//
// # Server
//
// Start(t, Config{…}) gives a listening Server closed with the test. Config
// sets credentials, bind limits, TLS, a window (ESME_RMSGQFUL), latency,
// message ids, receipts and the Server's own enquire_link. Methods change
// behaviour at run time (SetLatency, SetResponder, FailNext, Hold/Release,
// Mute, DropAll, DropAfter, UnbindAll), send to the ESME (Deliver,
// DeliverTo, SendRaw), and observe (Stats, Received, WaitFor). Recording on
// costs a few allocations per 10,000 messages.
//
// # Scripts
//
// RunScript(t, Expect(id), Send(pdu, status, LastSeq), SendRaw(b), Close(),
// …) serves one connection with a fixed exchange, for byte-level tests of an
// ESME (the pgmock idea).
//
// The engine never imports this package; the carrier simulator is built on
// its Core.
package smpptest
