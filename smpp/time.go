package smpp

import (
	"errors"
	"time"
)

// SMPP 3.4 §7.1.1: schedule_delivery_time and validity_period are empty or
// 16 characters, in one of two forms:
//
//	absolute  YYMMDDhhmmsstnnp  local time; t tenths of a second; nn the
//	                            offset from UTC in quarter hours (00-48);
//	                            p '+' (local time ahead of UTC) or '-'
//	relative  YYMMDDhhmmss000R  an offset from now: years, months, days,
//	                            hours, minutes, seconds
//
// Two-digit years follow the specification's default pivot (Appendix C):
// 00-37 are 20xx, 38-99 are 19xx.

// ErrBadTime says a schedule_delivery_time or validity_period is not an SMPP
// absolute or relative time.
var ErrBadTime = errors.New("smpp: not an SMPP time (YYMMDDhhmmsstnnp or YYMMDDhhmmss000R)")

// maxRelative is the longest offset RelativeTime writes: 99 days (the day
// field's two digits; longer offsets would need months, whose length
// depends on the date).
const maxRelative = 99*24*time.Hour + 23*time.Hour + 59*time.Minute + 59*time.Second

// RelativeTime returns d as an SMPP relative time (YYMMDDhhmmss000R), in
// whole seconds rounded up, so that a validity_period never ends before d:
// 90 minutes is "000000013000000R". d must be positive and at most 99 days,
// 23:59:59; otherwise RelativeTime returns ErrBadTime.
func RelativeTime(d time.Duration) ([]byte, error) {
	if d <= 0 || d > maxRelative {
		return nil, ErrBadTime
	}
	s := int64((d + time.Second - 1) / time.Second)
	days, s := s/86400, s%86400
	h, s := s/3600, s%3600
	m, s := s/60, s%60
	b := make([]byte, 0, 16)
	b = append(b, '0', '0', '0', '0')
	for _, v := range []int64{days, h, m, s} {
		b = append(b, byte('0'+v/10), byte('0'+v%10))
	}
	return append(b, '0', '0', '0', 'R'), nil
}

// ParseTime reads an SMPP absolute or relative time; a relative one is
// counted from now. An empty field is the zero time and no error (its
// meaning, "now" or "the SMSC default", is the caller's). Anything else that
// is not a well-formed time of either form, with fields in range, is
// ErrBadTime.
func ParseTime(b []byte, now time.Time) (time.Time, error) {
	if len(b) == 0 {
		return time.Time{}, nil
	}
	if len(b) != 16 {
		return time.Time{}, ErrBadTime
	}
	var f [7]int // YY MM DD hh mm ss, then t
	for i := 0; i < 6; i++ {
		hi, lo := b[2*i], b[2*i+1]
		if !isDigit(hi) || !isDigit(lo) {
			return time.Time{}, ErrBadTime
		}
		f[i] = int(hi-'0')*10 + int(lo-'0')
	}
	if !isDigit(b[12]) || !isDigit(b[13]) || !isDigit(b[14]) {
		return time.Time{}, ErrBadTime
	}
	f[6] = int(b[12] - '0')
	nn := int(b[13]-'0')*10 + int(b[14]-'0')
	switch b[15] {
	case 'R':
		if f[6] != 0 || nn != 0 {
			return time.Time{}, ErrBadTime
		}
		t := now.AddDate(f[0], f[1], f[2])
		return t.Add(time.Duration(f[3])*time.Hour + time.Duration(f[4])*time.Minute + time.Duration(f[5])*time.Second), nil
	case '+', '-':
	default:
		return time.Time{}, ErrBadTime
	}
	year := 2000 + f[0]
	if f[0] >= 38 {
		year = 1900 + f[0]
	}
	if f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > daysIn(year, f[1]) || f[3] > 23 || f[4] > 59 || f[5] > 59 || nn > 48 {
		return time.Time{}, ErrBadTime
	}
	offset := time.Duration(nn) * 15 * time.Minute
	if b[15] == '-' {
		offset = -offset
	}
	local := time.Date(year, time.Month(f[1]), f[2], f[3], f[4], f[5], f[6]*int(100*time.Millisecond), time.UTC)
	return local.Add(-offset), nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
