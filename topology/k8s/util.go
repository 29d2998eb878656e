package k8s

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
)

const defaultNamespace = "default"

// suggest returns up to three candidates close to word, closest first:
// same letters in another case, or within an edit distance of a third of
// the word's length (at least 1, at most 4); failing that, candidates that
// contain the word.
func suggest(word string, candidates []string) []string {
	w := strings.ToLower(word)
	maxDist := min(max(len(w)/3, 1), 4)
	type scored struct {
		s string
		d int
	}
	var close []scored
	for _, c := range candidates {
		if d := editDistance(w, strings.ToLower(c)); d == 0 || (len(w) > 2 && d <= maxDist) {
			close = append(close, scored{c, d})
		}
	}
	if len(close) == 0 && len(w) >= 4 {
		for _, c := range candidates {
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

// didYouMean returns ` (did you mean "x"?)` for the closest candidate, or "".
func didYouMean(word string, candidates []string) string {
	if word == "" {
		return ""
	}
	if s := suggest(word, candidates); len(s) > 0 {
		return fmt.Sprintf(" (did you mean %q?)", s[0])
	}
	return ""
}

// editDistance is the optimal string alignment distance between a and b.
func editDistance(a, b string) int {
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

// formatLabels prints a label map as {a: 1, b: 2}, keys sorted.
func formatLabels(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + m[k]
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// quoteOr formats ["a", "b", "c"] as `"a", "b" or "c"`.
func quoteOr(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = strconv.Quote(s)
	}
	if len(q) <= 1 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// andList formats ["a", "b", "c"] as "a, b and c".
func andList(list []string) string {
	if len(list) <= 1 {
		return strings.Join(list, "")
	}
	return strings.Join(list[:len(list)-1], ", ") + " and " + list[len(list)-1]
}

// listOf formats "WHAT are: a, b, c", shortened when long.
func listOf(what string, names []string) string {
	if len(names) == 0 {
		return "there are no " + what
	}
	const max = 12
	if len(names) > max {
		return what + " are: " + strings.Join(names[:max], ", ") + fmt.Sprintf(", and %d more", len(names)-max)
	}
	return what + " are: " + strings.Join(names, ", ")
}

func indexPath(parent string, i int) string { return parent + "[" + strconv.Itoa(i) + "]" }
