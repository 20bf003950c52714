// Package smpp implements the SMPP 3.4 wire format and the ESME side of bound
// sessions, for Switchboard's carrier links.
//
// It follows the SMPP v3.4 specification, Issue 1.2 (12 October 1999): §3
// (PDU format), §4 (the PDUs), §5 (field definitions, command_status values,
// optional parameters) and §7 (session rules); ../shared/notes/smpp34-reference.md
// sums it up with where implementations disagree.
//
// # Codec
//
// Every SMPP 3.4 PDU has a type here, one file each (submit_sm.go, ...), with
// Decode(body) and AppendBody(dst). AppendPDU writes a whole PDU into the
// caller's buffer; Reader splits a stream into PDUs, checking command_length
// against a maximum before it buffers a body; Decoder decodes into values it
// reuses, so the hot path allocates nothing. Decoded byte fields are views of
// the body they came from: copy what you keep beyond its lifetime.
//
// Variable-length fields are []byte (the C-Octet Strings without their NUL),
// because short_message is binary and '@' is 0x00 in GSM 03.38. Optional
// parameters are kept as their raw section (TLVs), so unknown tags survive in
// their order and re-encode exactly; typed accessors read the ones Switchboard
// uses.
//
// command_status values, their names and whether a request that got one may
// be retried come from one table (status.tsv, generated into zstatus.go). A
// peer's error status reaches callers as *StatusError; Retryable(err) answers
// the question the layers above ask.
//
// Text codings and long-message segmentation are in the coding subpackage; a
// scriptable fake SMSC for tests is in smpptest.
package smpp
