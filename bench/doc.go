// Package bench is Switchboard's benchmark suite: the scenarios behind
// cmd/smppbench, their load generators, measurements and reports.
//
// It drives the engine from outside, as a user would: over SMPP with
// package smpp's Session (window, advise) and over the engine's HTTP API
// (throttle, e2e, inbound, soak, fairness, backlog), against real `switchboard serve`
// processes it starts with a database and a Redis prefix of the run's own,
// and an in-process carrier simulator (package smscsim) whose report is
// the carrier's word on what arrived. It never imports inbox, routing or
// throttle.
//
// # Scenarios
//
//	window    window sizes × simulated response times on N binds: msgs/s, the
//	          W/RTT limit (N × W / RTT, with the configured and the measured
//	          RTT), efficiency, p50/p95/p99; the smallest window reaching 95%
//	          of a target TPS
//	advise    a real SMSC's response-time distribution at a safe rate (at most
//	          MaxProbeRate/s, MaxProbeCount probes, clean unbind) and the window
//	          and binds for a target TPS (Little's law with headroom, at most
//	          3 × TPS per bind)
//	throttle  numbers in rate classes × engine processes: per number the most
//	          segments the carrier accepted in any one-second window (exact)
//	          against rate + burst, utilisation, violations
//	e2e       POST /v1/messages to delivered receipts: rates and latency per
//	          stage from each message's status history
//	inbound   an MO flood: MO/s, deliver_sm → deliver_sm_resp, and every MO
//	          found in a thread
//	soak      mixed traffic with the simulator's faults on, then every accepted
//	          message final and every acknowledged MO in a thread
//	fairness  K numbers each with a backlog (campaigns queued one after
//	          another, or round robin) against a strict carrier (at most R
//	          per source in any sliding second): per number queued → first
//	          segment at the carrier, time to drain, rate against its
//	          entitled rate (max-min fair share of the account), the most in
//	          any second, 0x58 answers; utilisation and Jain's index
//	backlog   millions of messages queued (an API sample, the rest by SQL in
//	          Enqueue's shape, compared), then the engine started and
//	          restarted after kill -9: time to ready and to the first
//	          submit_sm, submit rate, RSS
//	kannel    e2e's traffic through Kannel (bearerbox + smsbox, sendsms with
//	          a dlr-url on the bench) against the same simulator: the
//	          baseline's rates, latency to the delivered DLR, CPU per message
//
// # Parameters and reports
//
// A Scenario holds every parameter; it is a YAML file (LoadScenario, strict
// fields), and every command-line flag sets one of its fields (Flags,
// ParseArgs). Run returns a Report: headline numbers, tables, HDR latency
// histograms (Latency, Summary), charts, checks, recommendations, the
// parameters and the machine. WriteFiles writes report.json, a
// self-contained report.html (inline CSS and SVG, no script, no network),
// summary.txt and scenario.yaml, which repeats the run.
package bench
