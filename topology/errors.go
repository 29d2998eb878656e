package topology

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Problem is one thing wrong with a scenario file: where it is and what was
// expected instead.
type Problem struct {
	// File is the scenario file's name as given to Parse or Load ("" when
	// the scenario did not come from a file).
	File string
	// Line and Column locate the problem, 1-based; 0 when unknown.
	Line   int
	Column int
	// Path is the field path in the scenario, e.g. "pods[2].node"; "" for
	// the document as a whole.
	Path string
	// Msg says what is wrong and what was expected.
	Msg string
}

// String formats the problem as FILE:LINE:COL: PATH: MSG, leaving out the
// parts that are unknown.
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
	}
	if p.Line > 0 {
		if b.Len() > 0 {
			b.WriteByte(':')
		}
		b.WriteString(strconv.Itoa(p.Line))
		if p.Column > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(p.Column))
		}
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return Printable(b.String())
}

// Printable makes text from an input file safe to print on a terminal:
// control characters (an escape sequence could clear the screen or retitle
// the window) and the Unicode controls that reorder or hide text (bidi
// overrides and isolates, zero-width characters) are written as Go escapes,
// \x1b or \u202e. Text that has none is returned as it is.
func Printable(s string) string {
	clean := utf8.ValidString(s)
	for _, r := range s {
		if !clean || unsafeRune(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i]) // not UTF-8
		case !unsafeRune(r):
			b.WriteRune(r)
		case r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
		i += size
	}
	return b.String()
}

func unsafeRune(r rune) bool {
	switch {
	case r == '\t':
		return false
	case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
		return true
	case r >= 0x200b && r <= 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0xfeff:
		return true
	}
	return false
}

// Problems is every problem found in one scenario. It is the error Parse
// and Load return for a scenario that does not load; use errors.As to get
// at the individual problems.
type Problems []Problem

// StoppedChecking ends the message of the problem that stops a load with
// too many problems.
const StoppedChecking = "netsim stopped checking here"

// MaxListed is the most problems Problems.Error lists; the rest are
// counted on one last line.
const MaxListed = 100

// Error lists the problems, one per line, a problem repeated for many
// items once with a count (see Collapse): the first MaxListed, then how
// many more there are.
func (ps Problems) Error() string {
	ps = ps.Collapse()
	n := min(len(ps), MaxListed)
	lines := make([]string, n, n+1)
	for i, p := range ps[:n] {
		lines[i] = p.String()
	}
	if more := len(ps) - n; more > 0 {
		lines = append(lines, fmt.Sprintf("... and %d more problems (only the first %d are listed)", more, MaxListed))
		// Where checking stopped is news: say it even when it is not
		// among the listed problems.
		if last := ps[len(ps)-1]; strings.HasSuffix(last.Msg, StoppedChecking) {
			lines = append(lines, last.String())
		}
	}
	return strings.Join(lines, "\n")
}

// Sort orders the problems by line, then column; problems without a
// position come first. Problems at the same position keep their order.
func (ps Problems) Sort() {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Line != ps[j].Line {
			return ps[i].Line < ps[j].Line
		}
		return ps[i].Column < ps[j].Column
	})
}

// Err returns ps as an error, or nil when there are no problems.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}
