// Package smpptest provides a fake SMPP 3.4 SMSC for tests, benchmarks and the
// carrier simulator: a Server that binds ESMEs, answers their requests with
// faults injected on demand, sends delivery receipts and mobile-originated
// messages, and records what it received; and a scripted peer (RunScript) for
// byte-level tests that Expect and Send PDUs in a fixed order.
//
// It speaks SMPP through package smpp's codec only. Each connection has one
// reader goroutine, which parses with an smpp.Reader and answers in place, and
// one writer goroutine, which owns a timer heap for delayed answers and
// receipts and sends everything queued since its last write in one Write. No
// I/O happens under a lock. Answering a submit_sm, with or without latency
// or a receipt, allocates nothing in the steady state (recording on costs a
// few allocations per 10,000 messages).
//
// Session rules follow SMPP 3.4 §7 (see ../../shared/notes/smpp34-reference.md
// §7): one bind per connection (a second gets ESME_RALYBND), requests before a
// bind get ESME_RINVBNDSTS, an unknown command_id gets generic_nack
// ESME_RINVCMDID with its sequence number and the connection is kept, a bad
// command_length gets generic_nack ESME_RINVCMDLEN with sequence number 0 and
// the connection is closed, enquire_link is answered in any state.
//
// # Server
//
// Start(t, Config{…}) gives a listening Server closed with the test. Config
// sets credentials, bind limits, TLS, a window (ESME_RMSGQFUL), latency,
// message ids, receipts and the Server's own enquire_link. Methods change
// behaviour at run time (SetLatency, SetResponder, FailNext, Hold/Release,
// Mute, DropAll, DropAfter, UnbindAll), send to the ESME (Deliver,
// DeliverTo, SendRaw), and observe (Stats, Received, WaitFor).
//
// # Scripts
//
// RunScript(t, Expect(id), Send(pdu, status, LastSeq), SendRaw(b), Close(),
// …) serves one connection with a fixed exchange, for byte-level tests of an
// ESME (the pgmock idea).
//
// Production code never imports this package.
package smpptest
