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
// introduces each packet the first time it appears. Below about 90
// columns the time column is left out and the place column narrowed, so
// that text keeps room; every line still fits the width.
func WriteHops(w io.Writer, hops []Hop, start time.Duration, width int) {
	seen := map[uint64]bool{}
	whereW := 10
	for _, h := range hops {
		if n := runeLen(h.Where()); n > whereW {
			whereW = min(n, 30)
		}
	}
	// seq(4) time(9) packet(4) kind(7) and the spaces between: 32 columns.
	showTime := width <= 0 || width-(32+whereW) >= minText-2
	if !showTime {
		whereW = max(10, min(whereW, width-22-minText))
	}
	for _, h := range hops {
		if !seen[h.Packet] && h.Packet != 0 {
			seen[h.Packet] = true
			if h.Parent != 0 {
				WriteWrapped(w, "  ", fmt.Sprintf("-- packet #%d, caused by #%d", h.Packet, h.Parent), width)
			} else {
				WriteWrapped(w, "  ", fmt.Sprintf("-- packet #%d", h.Packet), width)
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
		var prefix string
		if showTime {
			prefix = fmt.Sprintf("  %4d %9s %4s  %-*s %-7s ", h.Seq, FormatMillis(h.Time-start), pk, whereW, h.Where(), h.Kind)
		} else {
			prefix = fmt.Sprintf("  %4d %4s  %-*s %-7s ", h.Seq, pk, whereW, h.Where(), h.Kind)
		}
		WriteWrapped(w, prefix, text, width)
	}
}
