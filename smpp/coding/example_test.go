package coding_test

import (
	"fmt"

	"github.com/switchboard-sms/switchboard/smpp/coding"
)

func ExampleCount() {
	for _, s := range []string{"Hello @ £5", "Price: 5€ {incl. VAT}", "Ça va? 😀"} {
		enc := coding.Choose(s)
		info, err := coding.Count(s, enc, coding.UDH8)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s: %d units, %d chars, %d segment(s), %d free\n", enc, info.Units, info.Chars, info.Segments, info.Free)
	}
	// Output:
	// GSM7: 10 units, 10 chars, 1 segment(s), 150 free
	// GSM7: 24 units, 21 chars, 1 segment(s), 136 free
	// UCS2: 9 units, 8 chars, 1 segment(s), 61 free
}

func ExampleSplitter() {
	var refs coding.RefSource // one per engine, shared by all senders
	var sp coding.Splitter    // one per goroutine, reused for every message
	dest := "+447700900123"
	text := "Your parcel is at the depot [ref 42]. " +
		"Collect it within 5 days with ID; fee €2. Reply HELP for help, STOP to opt out. " +
		"Opening hours: Mon-Fri 8-18, Sat 9-12. Address: 1 High St."
	enc := coding.Choose(text)
	ref := refs.Next(dest, coding.UDH8)
	parts, err := sp.Split(text, enc, coding.UDH8, ref)
	if err != nil {
		panic(err)
	}
	for _, p := range parts {
		// short_message = p.Message, esm_class |= 0x40 when p.UDHLen > 0
		fmt.Printf("part %d/%d: UDH %d octets, %d septets\n", p.Seq, p.Total, p.UDHLen, len(p.Data()))
	}
	// Output:
	// part 1/2: UDH 6 octets, 153 septets
	// part 2/2: UDH 6 octets, 26 septets
}

func ExampleParseUDH() {
	sm := []byte{0x05, 0x00, 0x03, 0x2A, 0x02, 0x01, 0x48, 0x69} // concat ref 42, part 1 of 2, "Hi"
	h, payload, err := coding.ParseUDH(sm)
	if err != nil {
		panic(err)
	}
	ref, total, seq, ok := h.Concat()
	text, _ := coding.DecodeGSM7(payload)
	fmt.Println(ref, total, seq, ok, text)
	// Output: 42 2 1 true Hi
}
