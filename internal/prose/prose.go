// Package prose writes numbers and lists the way netsim's messages and
// reports write them: counts with thousands separators (20,000) and
// shortened lists of names ("vSwitches are: a, b, and 3 more").
package prose

import (
	"fmt"
	"strconv"
	"strings"
)

// Thousands writes n with commas between groups of three digits: 1,000,
// -20,000.
func Thousands[T ~int | ~int64 | ~uint64](n T) string {
	var s string
	if n < 0 {
		s = strconv.FormatInt(int64(n), 10)
	} else {
		s = strconv.FormatUint(uint64(n), 10)
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// MostListed is the most names ListOf spells out.
const MostListed = 12

// ListOf formats "WHAT are: a, b, c" for messages: "there are no WHAT"
// when names is empty, the first MostListed names and a count of the rest
// when it is long.
func ListOf(what string, names []string) string {
	if len(names) == 0 {
		return "there are no " + what
	}
	if len(names) > MostListed {
		return what + " are: " + strings.Join(names[:MostListed], ", ") + fmt.Sprintf(", and %d more", len(names)-MostListed)
	}
	return what + " are: " + strings.Join(names, ", ")
}

// Count is n and what, plural unless n is 1: "1 flow", "3 flows".
func Count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
