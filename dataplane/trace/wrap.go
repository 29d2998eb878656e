package trace

import (
	"fmt"
	"io"
	"strings"
)

// MinWidth is the narrowest width text is wrapped to; narrower widths are
// refused by the CLI. At MinWidth a trace line keeps at least a few
// columns of text after its prefix.
const MinWidth = 40

// minText is how many columns a continuation line keeps for text: when a
// prefix is so wide that fewer are left, continuation lines are indented
// less than the prefix.
const minText = 30

// Wrap breaks prefix+text into lines of at most width columns (counted in
// runes; 0 or less: one line, unwrapped). Text breaks at spaces; lines
// after the first are indented to the prefix's width, or less when that
// would leave fewer than 30 columns. A prefix wider than the line is itself
// broken at spaces. A word longer than a whole line is cut into pieces of
// the line's width: no line is ever wider than width.
func Wrap(prefix, text string, width int) []string {
	return WrapIndent(prefix, text, width, runeLen(prefix))
}

// WrapIndent is Wrap with continuation lines indented by cont columns
// (less when that would leave fewer than 30 columns of text).
func WrapIndent(prefix, text string, width, cont int) []string {
	text = strings.ReplaceAll(text, "\n", " ")
	if width <= 0 {
		return []string{prefix + text}
	}
	indent := runeLen(prefix)
	if width-cont < minText {
		cont = max(0, min(cont, width-minText, width/4))
	}
	var lines []string
	cur := prefix
	fresh := true // no word of text on cur yet
	if indent > width-8 {
		// The prefix leaves (almost) no room: its words wrap like text.
		cur, fresh = "", true
		text = strings.Join(strings.Fields(prefix), " ") + " " + text
	}
	pad := strings.Repeat(" ", cont)
	emit := func() {
		lines = append(lines, strings.TrimRight(cur, " "))
		cur, fresh = pad, true
	}
	// Pieces are the words, and the parts of a word after each comma
	// ("RELATED,ESTABLISHED" may break after the comma). A line that
	// breaks before a space leaves that column free, as the wrapping of
	// earlier versions did; one that breaks after a comma or ends the text
	// may use the last column.
	type piece struct {
		s     string
		space int // spaces before it (0: glued to the previous piece)
	}
	var pieces []piece
	extra := 0
	for _, word := range strings.Split(text, " ") {
		if word == "" {
			extra++ // runs of spaces inside the text are kept, except at a break
			continue
		}
		for i, part := range strings.SplitAfter(word, ",") {
			if part == "" {
				continue
			}
			sp := 0
			if i == 0 {
				sp = 1 + extra
			}
			pieces = append(pieces, piece{part, sp})
		}
		extra = 0
	}
	for i, p := range pieces {
		sep := strings.Repeat(" ", p.space)
		if fresh {
			sep = ""
		}
		limit := width
		if i+1 < len(pieces) && pieces[i+1].space > 0 && !strings.HasSuffix(p.s, ",") {
			limit = width - 1
		}
		if runeLen(cur)+len(sep)+runeLen(p.s) <= limit {
			cur += sep + p.s
			fresh = false
			continue
		}
		// Break before the piece, unless the line holds only the indent, or
		// only the prefix and the piece is too long for any line anyway.
		if !fresh || (runeLen(cur) > cont && runeLen(p.s) <= width-cont) {
			emit()
		}
		r := []rune(p.s)
		room := max(width-runeLen(cur), 1)
		for len(r) > room {
			cur += string(r[:room])
			r = r[room:]
			emit()
			room = max(width-runeLen(cur), 1)
		}
		cur += string(r)
		fresh = false
	}
	if !fresh || len(lines) == 0 {
		lines = append(lines, strings.TrimRight(cur, " "))
	}
	return lines
}

// WriteWrapped prints prefix+text wrapped at width (see Wrap).
func WriteWrapped(w io.Writer, prefix, text string, width int) {
	for _, l := range Wrap(prefix, text, width) {
		fmt.Fprintln(w, l)
	}
}

func runeLen(s string) int { return len([]rune(s)) }
