// Package columns prints tables of text as aligned columns with a rule
// under the header row, as netsim's benchmark reports print them.
package columns

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// Write prints rows (the first is the header) with every column as wide as
// its widest cell (counted in runes), two spaces between columns, and a
// rule of dashes under the header. Columns are right-aligned but for the
// indexes in left (a negative index counts from the end: -1 is the last).
// Trailing spaces are trimmed. Rows may not be empty.
func Write(w io.Writer, rows [][]string, left ...int) {
	if len(rows) == 0 {
		return
	}
	n := len(rows[0])
	width := make([]int, n)
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	isLeft := func(i int) bool { return slices.Contains(left, i) || slices.Contains(left, i-n) }
	line := func(r []string) {
		var b strings.Builder
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i > 0 {
				b.WriteString("  ")
			}
			if isLeft(i) {
				b.WriteString(c + pad)
			} else {
				b.WriteString(pad + c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	line(rows[0])
	rule := make([]string, n)
	for i, k := range width {
		rule[i] = strings.Repeat("-", k)
	}
	line(rule)
	for _, r := range rows[1:] {
		line(r)
	}
}
