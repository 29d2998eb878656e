package trace

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// HopText is a hop in one line without its place and time: "route
// 172.20.1.2 iif cni0 ⇒ 172.20.1.0/24 via 172.20.1.0 dev flannel.1 onlink".
func HopText(h Hop) string {
	var b strings.Builder
	b.WriteString(string(h.Kind))
	if h.Reason != "" {
		b.WriteString(" " + h.Reason)
	}
	if h.Lookup != "" {
		b.WriteString(" " + h.Lookup)
	}
	if h.Match != "" {
		if h.Lookup != "" {
			b.WriteString(" ⇒")
		}
		b.WriteString(" " + h.Match)
	}
	if h.Change != "" {
		if h.Lookup != "" || h.Match != "" {
			b.WriteString(";")
		}
		b.WriteString(" " + h.Change)
	}
	if h.After != "" {
		b.WriteString(" " + h.After)
	}
	return b.String()
}

// Where is "node device" of a hop.
func (h Hop) Where() string {
	if h.Device == "" {
		return h.Node
	}
	return h.Node + " " + h.Device
}

// FormatMillis prints a duration as milliseconds with microsecond digits.
func FormatMillis(d time.Duration) string {
	return fmt.Sprintf("%.3fms", float64(d)/float64(time.Millisecond))
}

// WriteHops prints hops for people, one line a hop, wrapped at width
// columns (0: no wrapping): sequence number, time relative to start,
// packet number, namespace and device, kind, and what was looked up (⇒
// what matched; what changed) or the frame sent. A line "packet #N"
// introduces each packet the first time it appears.
func WriteHops(w io.Writer, hops []Hop, start time.Duration, width int) {
	seen := map[uint64]bool{}
	whereW := 10
	for _, h := range hops {
		if n := len([]rune(h.Where())); n > whereW {
			whereW = min(n, 30)
		}
	}
	for _, h := range hops {
		if !seen[h.Packet] && h.Packet != 0 {
			seen[h.Packet] = true
			if h.Parent != 0 {
				fmt.Fprintf(w, "  -- packet #%d, caused by #%d\n", h.Packet, h.Parent)
			} else {
				fmt.Fprintf(w, "  -- packet #%d\n", h.Packet)
			}
		}
		text := strings.TrimPrefix(HopText(h), string(h.Kind)+" ")
		if h.Kind == KindDrop {
			text = "DROPPED " + strings.TrimPrefix(text, h.Reason+" ") + " [" + h.Reason + "]"
			text = strings.TrimSpace(text)
		}
		pk := fmt.Sprintf("#%d", h.Packet)
		if h.Packet == 0 {
			pk = "-" // not about a packet: a lookup, a socket call
		}
		prefix := fmt.Sprintf("  %4d %9s %4s  %-*s %-7s ", h.Seq, FormatMillis(h.Time-start), pk, whereW, h.Where(), h.Kind)
		writeWrapped(w, prefix, text, width)
	}
}

// writeWrapped prints prefix+text, continuing long text on indented lines.
func writeWrapped(w io.Writer, prefix, text string, width int) {
	indent := len([]rune(prefix))
	avail := width - indent
	if width <= 0 || avail < 30 || len([]rune(text)) <= avail {
		fmt.Fprintln(w, prefix+text)
		return
	}
	first := true
	for text != "" {
		r := []rune(text)
		cut := len(r)
		if cut > avail {
			cut = avail
			if i := strings.LastIndexAny(string(r[:avail]), " ,"); i > avail/2 {
				cut = len([]rune(string(r[:avail])[:i+1]))
			}
		}
		line := strings.TrimRight(string(r[:cut]), " ")
		if first {
			fmt.Fprintln(w, prefix+line)
			first = false
		} else {
			fmt.Fprintln(w, strings.Repeat(" ", indent)+line)
		}
		text = strings.TrimLeft(string(r[cut:]), " ")
	}
}
