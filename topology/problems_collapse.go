package topology

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// maxRepeats is how many problems of one kind Collapse keeps before it
// reports the rest as a count.
const maxRepeats = 3

var (
	indexRE = regexp.MustCompile(`\[\d+\]`)
	// varyingRE matches the words of a message that differ between the
	// items of one repeated problem: names and numbers with digits in them
	// (web-7f4968c9b8-6zmbw, 172.20.0.2, pods[7]).
	varyingRE = regexp.MustCompile(`[\w.:/\[\]-]*\d[\w.:/\[\]–-]*`)
)

// Collapse reports a problem repeated for many items once, with a count:
// problems in one file whose field paths differ only in their list
// indexes and whose messages differ only in names and numbers with
// digits are one kind; past maxRepeats of a kind, the first is kept and
// says how many more there are and where ("… (and 99,496 more like it:
// pods[3..99499].node)"). Other problems are left as they are, in order.
func (ps Problems) Collapse() Problems {
	if len(ps) <= maxRepeats {
		return ps
	}
	type group struct {
		first int
		items []int
	}
	key := func(p Problem) string {
		return p.File + "\x00" + indexRE.ReplaceAllString(p.Path, "[]") + "\x00" + varyingRE.ReplaceAllString(p.Msg, "#")
	}
	groups := map[string]*group{}
	for i, p := range ps {
		k := key(p)
		g := groups[k]
		if g == nil {
			g = &group{first: i}
			groups[k] = g
		}
		g.items = append(g.items, i)
	}
	out := make(Problems, 0, len(ps))
	for i, p := range ps {
		g := groups[key(p)]
		if len(g.items) <= maxRepeats {
			out = append(out, p)
			continue
		}
		if i != g.first {
			continue
		}
		rest := g.items[1:]
		p.Msg += fmt.Sprintf(" (and %s more like it%s)", thousands(len(rest)), wherePaths(ps, rest))
		out = append(out, p)
	}
	return out
}

// wherePaths describes where the repeated problems at items are: ": at
// pods[3..99499].node" when their paths differ in one index that runs
// without a gap, the first few paths otherwise, "" when they share the
// path of the first.
func wherePaths(ps Problems, items []int) string {
	first := ps[items[0]].Path
	same := true
	for _, i := range items {
		if ps[i].Path != first {
			same = false
			break
		}
	}
	if same {
		return ""
	}
	// One index varying: prefix[N]suffix.
	loc := indexRE.FindStringIndex(first)
	if loc != nil {
		prefix, suffix := first[:loc[0]], first[loc[1]:]
		lo, _ := strconv.Atoi(first[loc[0]+1 : loc[1]-1])
		ok, hi := true, lo
		for n, i := range items {
			p := ps[i].Path
			want := prefix + "[" + strconv.Itoa(lo+n) + "]" + suffix
			if p != want {
				ok = false
				break
			}
			hi = lo + n
		}
		if ok {
			return fmt.Sprintf(": %s[%d..%d]%s", prefix, lo, hi, suffix)
		}
	}
	var paths []string
	for _, i := range items[:min(len(items), 3)] {
		paths = append(paths, ps[i].Path)
	}
	if len(items) > 3 {
		paths = append(paths, "…")
	}
	return ": " + strings.Join(paths, ", ")
}
