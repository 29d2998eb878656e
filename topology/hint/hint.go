// Package hint phrases the helpful tails of error messages: "did you mean"
// suggestions from a list of known names, and lists joined with "or".
// The scenario loader and the manifest decoder share it.
package hint

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf8"
)

// Suggest returns up to three candidates close to word, closest first:
// within an edit distance (case-insensitive, a transposition counting
// once) of a third of the word's length, at least 1 and at most 4; failing
// that, candidates that contain the word.
func Suggest(word string, candidates []string) []string {
	w := strings.ToLower(word)
	lw := utf8.RuneCountInString(w)
	maxDist := min(max(lw/3, 1), 4)
	type scored struct {
		s string
		d int
	}
	var close []scored
	for _, c := range candidates {
		lc := utf8.RuneCountInString(c)
		if lc-lw > maxDist || lw-lc > maxDist {
			continue // further apart than maxDist edits, or not the same word
		}
		if !spend(int64(lw+1) * int64(lc+1)) {
			break
		}
		// Words of one or two letters are too short to guess from, unless
		// only the case differs.
		if d := EditDistance(w, strings.ToLower(c)); d == 0 || (lw > 2 && d <= maxDist) {
			close = append(close, scored{c, d})
		}
	}
	if len(close) == 0 && lw >= 4 {
		for _, c := range candidates {
			if !spend(int64(len(c) + len(w))) {
				break
			}
			if strings.Contains(strings.ToLower(c), w) {
				close = append(close, scored{c, 0})
			}
		}
	}
	sort.SliceStable(close, func(i, j int) bool { return close[i].d < close[j].d })
	var out []string
	for i := 0; i < len(close) && i < 3; i++ {
		out = append(out, close[i].s)
	}
	return out
}

// MaxWork bounds the work of the suggestions of one load (see ResetWork),
// in edit distance cells (about a second's worth): a file with thousands
// of misspelt names among thousands of candidates gets suggestions for the
// first ones and plain errors after, instead of minutes of guessing.
const MaxWork = 50_000_000

var work atomic.Int64

// ResetWork gives the next load the whole MaxWork budget again.
func ResetWork() { work.Store(0) }

// spend takes n cells of the suggestion budget; false when it is spent.
func spend(n int64) bool { return work.Add(n) <= MaxWork }

// DidYouMean returns ` (did you mean "x"?)` for the candidate closest to
// word, or "" when none is close.
func DidYouMean(word string, candidates []string) string {
	if word == "" {
		return ""
	}
	if s := Suggest(word, candidates); len(s) > 0 {
		return fmt.Sprintf(" (did you mean %q?)", s[0])
	}
	return ""
}

// EditDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and adjacent transpositions.
func EditDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// QuoteOr formats ["a", "b", "c"] as `"a", "b" or "c"`.
func QuoteOr(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = strconv.Quote(s)
	}
	if len(q) <= 1 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// Spent is the suggestion budget spent since ResetWork.
func Spent() int64 { return work.Load() }

// SetSpent sets the budget spent, so that work done again (a second walk
// over a file for its positions) does not take suggestions from what follows.
func SetSpent(n int64) { work.Store(n) }
