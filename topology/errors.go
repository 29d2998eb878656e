package topology

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
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
	return b.String()
}

// Problems is every problem found in one scenario. It is the error Parse
// and Load return for a scenario that does not load; use errors.As to get
// at the individual problems.
type Problems []Problem

// MaxListed is the most problems Problems.Error lists; the rest are
// counted on one last line.
const MaxListed = 100

// Error lists the problems, one per line: the first MaxListed, then how
// many more there are.
func (ps Problems) Error() string {
	n := min(len(ps), MaxListed)
	lines := make([]string, n, n+1)
	for i, p := range ps[:n] {
		lines[i] = p.String()
	}
	if more := len(ps) - n; more > 0 {
		lines = append(lines, fmt.Sprintf("... and %d more problems (only the first %d are listed)", more, MaxListed))
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
