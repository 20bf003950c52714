// Package coding converts message text between Go strings (UTF-8) and the
// octets SMPP carries in short_message and message_payload, counts messages
// the way carriers bill them, splits long messages into concatenated parts,
// and reads the User Data Header of inbound parts.
//
// It knows nothing of sessions or PDUs: the smpp package maps an [Encoding] to
// a data_coding value, sets esm_class UDHI (0x40) for parts that carry a UDH,
// and puts SAR values into the sar_* TLVs.
//
// # Encodings
//
//   - [GSM7]: the GSM 7-bit default alphabet and its extension table
//     (3GPP TS 23.038 §6.2.1, formerly GSM 03.38). SMPP carries it unpacked,
//     one septet per octet; characters of the extension table (form feed,
//     ^ { } \ [ ~ ] | €) are sent as the escape 0x1B followed by a code and
//     cost two septets. '@' is 0x00, so short_message must never be handled
//     as a C string. [PackSeptets] and [UnpackSeptets] serve the rare SMSC
//     that wants packed septets, with fill bits after a UDH (see [FillBits]).
//   - [UCS2]: UTF-16 big-endian. Characters beyond the Basic Multilingual
//     Plane (most emoji) are sent as surrogate pairs and cost two units.
//   - [Latin1]: ISO-8859-1, one octet per character.
//   - [Binary]: 8-bit data, passed through unchanged.
//
// Which data_coding value means "GSM default alphabet" differs between
// carriers (SMPP 3.4 §5.2.19 gives 0 as "SMSC default alphabet"; some
// carriers want 1, IA5) and is decided per carrier by the smpp layer, not
// here. UCS2 is data_coding 8, Latin1 3, Binary 4 (or 2).
//
// Encoding is strict: a character the encoding cannot represent, or input
// that is not valid UTF-8, is an [*EncodeError]; nothing is replaced unless
// the caller asks with [ReplaceUnencodable]. Decoding is strict too
// ([*DecodeError]); [AppendDecodeReplace] decodes what a peer sent whatever
// it is, with U+FFFD for malformed input, so an inbound message is never lost.
//
// # Counting and segmentation
//
// [Count] gives the units (septets, UTF-16 code units or octets), characters
// and billed segments of a text. A message that fits one part holds 160
// septets, 70 UTF-16 units or 140 octets. Concatenated parts (3GPP TS 23.040
// §9.2.3.24.1 and §9.2.3.24.8) hold 153 / 67 / 134 with the 6-octet UDH of
// the 8-bit reference (05 00 03 RR TT SS) and 152 / 66 / 133 with the
// 7-octet UDH of the 16-bit reference (06 08 04 RH RL TT SS). Parts sent with
// the SMPP 3.4 sar_msg_ref_num, sar_total_segments and sar_segment_seqnum
// TLVs (§5.3.2.22–24), and messages sent whole in message_payload
// (§5.3.2.32), are billed like the 8-bit UDH, because the SMSC adds that
// header itself. An escape pair (0x1B and its code) and a UTF-16 surrogate
// pair always stay in one part, so counting is a greedy fill, not a division.
// At most 255 parts are possible.
//
// [Splitter] cuts a message into [Part] values in reusable storage;
// [RefSource] hands out concatenation reference numbers per destination.
//
// # Inbound
//
// [ParseUDH] reads the User Data Header (3GPP TS 23.040 §9.2.3.24) at the
// start of a short_message whose esm_class has UDHI set, and returns its
// information elements and the text after it; [UDH.Concat] and [UDH.Ports]
// read the concatenation and application port elements. Reassemble a
// concatenated message by joining the parts' payloads in sequence order and
// decoding the result once.
package coding
