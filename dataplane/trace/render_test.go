package trace

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEveryReasonHasAWhy fails for any reason, present or added later,
// without an explanation of its concept that differs from its short text.
func TestEveryReasonHasAWhy(t *testing.T) {
	for _, r := range Reasons() {
		t.Run(r.Code(), func(t *testing.T) {
			why := r.Why()
			require.NotEmpty(t, why, "reason %s has no Why in why.go", r.Code())
			assert.NotEqual(t, r.Text(), why, "Why must explain the concept, not repeat Text")
			assert.NotContains(t, why, "\n", "Why is one line")
			assert.Equal(t, why, WhyCode(r.Code()))
		})
	}
	assert.Empty(t, WhyCode("no-such-reason"))
	assert.Empty(t, ReasonNone.Why())
}

func TestWrap(t *testing.T) {
	long := strings.Repeat("x", 95)
	tests := []struct {
		name          string
		prefix, text  string
		width         int
		want          []string // nil: only check the width and the words
		maxLines      int
		contPrefixLen int // expected indent of continuation lines (-1: unchecked)
	}{
		{name: "fits", prefix: "ab ", text: "one two", width: 40, want: []string{"ab one two"}},
		{name: "no wrapping at 0", prefix: "ab ", text: long + " " + long, width: 0, want: []string{"ab " + long + " " + long}},
		{name: "hanging indent under the prefix", prefix: "   verdict: ", text: "alpha beta gamma delta epsilon zeta eta theta iota kappa", width: 45,
			want: []string{"   verdict: alpha beta gamma delta epsilon", "            zeta eta theta iota kappa"}},
		{name: "wide prefix indents less", prefix: strings.Repeat("p", 30) + " ", text: strings.Repeat("word ", 30), width: 50, contPrefixLen: 12},
		{name: "prefix wider than the line", prefix: strings.Repeat("p ", 30), text: "tail text here", width: 40, contPrefixLen: -1},
		{name: "unbreakable word is cut", prefix: "> ", text: "a " + long + " b", width: 40, contPrefixLen: -1},
		{name: "runs of spaces are kept inside", prefix: "", text: "icmp     1 30", width: 40, want: []string{"icmp     1 30"}},
		{name: "newlines are spaces", prefix: "", text: "a\nb", width: 40, want: []string{"a b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Wrap(tc.prefix, tc.text, tc.width)
			if tc.want != nil {
				assert.Equal(t, tc.want, got)
				return
			}
			for _, l := range got {
				assert.LessOrEqual(t, runeLen(l), tc.width, "line %q", l)
			}
			// Nothing is lost: the words (cut words rejoined) are all there.
			joined := strings.Join(strings.Fields(strings.Join(got, "")), "")
			assert.Equal(t, strings.Join(strings.Fields(tc.prefix+tc.text), ""), joined)
			if tc.contPrefixLen > 0 {
				for _, l := range got[1:] {
					assert.Equal(t, tc.contPrefixLen, runeLen(l)-runeLen(strings.TrimLeft(l, " ")), "indent of %q", l)
				}
			}
		})
	}
}

// hopsOfPing is a small two-namespace ping with its ARP exchange.
func hopsOfPing() []Hop {
	return []Hop{
		{Seq: 1, Packet: 1, Node: "pod-a", Kind: KindRoute, Lookup: "route get 10.0.0.2", Match: "10.0.0.0/24 dev eth0"},
		{Seq: 2, Packet: 1, Node: "pod-a", Device: "eth0", Kind: KindNeigh, Lookup: "neigh 10.0.0.2", Match: "no entry"},
		{Seq: 3, Packet: 2, Parent: 1, Node: "pod-a", Device: "eth0", Kind: KindARP, Lookup: "ARP who-has 10.0.0.2"},
		{Seq: 4, Packet: 2, Parent: 1, Node: "pod-a", Device: "eth0", Kind: KindTx, After: "aa:aa:aa:aa:aa:aa > ff:ff:ff:ff:ff:ff, ARP who-has 10.0.0.2"},
		{Seq: 5, Packet: 2, Parent: 1, Node: "node-1", Device: "br0", Kind: KindFDB, Lookup: "fdb ff:ff:ff:ff:ff:ff", Match: "flood"},
		{Seq: 6, Packet: 1, Node: "pod-a", Device: "eth0", Kind: KindTx, After: "aa:aa:aa:aa:aa:aa > bb:bb:bb:bb:bb:bb, 10.0.0.1 > 10.0.0.2: ICMP echo request"},
		{Seq: 7, Packet: 1, Node: "node-1", Device: "br0", Kind: KindFDB, Lookup: "fdb bb", Match: "port 2"},
		{Seq: 8, Packet: 1, Node: "node-1", Kind: KindCT, Lookup: "conntrack", Match: "NEW"},
		{Seq: 9, Packet: 1, Node: "node-1", Kind: KindRule, Lookup: "iptables -t nat POSTROUTING", Match: "-A POSTROUTING -j MASQUERADE"},
		{Seq: 10, Packet: 1, Node: "node-1", Device: "eth1", Kind: KindTx, After: "…"},
		{Seq: 11, Packet: 1, Node: "vpc", Device: "vsw", Kind: KindVPC, Lookup: "route table: 10.0.0.2", Match: "local"},
		{Seq: 12, Packet: 1, Node: "pod-b", Device: "eth0", Kind: KindDeliver, Change: "ICMP echo request answered"},
		{Seq: 13, Packet: 3, Parent: 1, Node: "pod-b", Device: "eth0", Kind: KindRoute, Match: "default via 10.0.0.254 dev eth0"},
		{Seq: 14, Packet: 3, Parent: 1, Node: "vpc", Device: "vsw", Kind: KindVPC, Match: "local"},
		{Seq: 15, Packet: 3, Parent: 1, Node: "node-1", Device: "eth1", Kind: KindRoute, Match: "10.0.0.0/24 dev br0"},
		{Seq: 16, Packet: 3, Parent: 1, Node: "node-1", Device: "br0", Kind: KindFDB, Lookup: "fdb aa", Match: "port 1"},
		{Seq: 17, Packet: 3, Parent: 1, Node: "pod-a", Device: "eth0", Kind: KindDeliver, Change: "ping: 64 bytes"},
	}
}

func TestFilter(t *testing.T) {
	hops := hopsOfPing()
	kinds := func(hs []Hop) (out []string) {
		for _, h := range hs {
			out = append(out, string(h.Kind)+"#"+strings.TrimPrefix(h.Node, "pod-"))
		}
		return out
	}
	tests := []struct {
		name   string
		filter Filter
		want   []int // the Seq of the hops kept
	}{
		{name: "keeps all", filter: Filter{}, want: []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17}},
		{name: "hide arp removes every hop of ARP packets", filter: Filter{Hide: []Kind{KindARP}}, want: []int{1, 2, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17}},
		{name: "hide neigh and fdb", filter: Filter{Hide: []Kind{KindNeigh, KindFDB}}, want: []int{1, 3, 4, 6, 8, 9, 10, 11, 12, 13, 14, 15, 17}},
		{name: "hide ct", filter: Filter{Hide: []Kind{KindCT}}, want: []int{1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17}},
		{name: "one namespace", filter: Filter{Node: "node-1"}, want: []int{5, 7, 8, 9, 10, 15, 16}},
		{name: "namespace and kinds", filter: Filter{Node: "node-1", Hide: []Kind{KindARP, KindCT}}, want: []int{7, 9, 10, 15, 16}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []int
			for _, h := range tc.filter.Apply(hops) {
				got = append(got, h.Seq)
			}
			assert.Equal(t, tc.want, got, "%v", kinds(tc.filter.Apply(hops)))
		})
	}
}

func TestLevels(t *testing.T) {
	hops := hopsOfPing()
	tests := []struct {
		level   Level
		want    []string
		notWant []string
		lines   int // at most
	}{
		{level: LevelDetailed, want: []string{"ARP who-has 10.0.0.2", "conntrack ⇒ NEW", "-- packet #2, caused by #1"}, lines: 30},
		{level: LevelSummary, want: []string{
			"-- packet #1: 10.0.0.1 > 10.0.0.2: ICMP echo request",
			"node-1 br0 → eth1: rule -A POSTROUTING -j MASQUERADE",
			"vpc vsw: vpc route table: 10.0.0.2 ⇒ local",
			"-- packet #3, caused by #1",
		}, notWant: []string{"ARP", "conntrack", "packet #2"}, lines: 12},
		{level: LevelMinimal, want: []string{
			"path:  pod-a eth0 → node-1 br0 → eth1 ⇒ vpc vsw ⇒ pod-b eth0  delivered",
			"reply: the same path back",
		}, lines: 2},
	}
	for _, tc := range tests {
		t.Run(string(tc.level), func(t *testing.T) {
			var b bytes.Buffer
			WriteLevel(&b, hops, 0, tc.level, 0)
			out := b.String()
			for _, s := range tc.want {
				assert.Contains(t, out, s)
			}
			for _, s := range tc.notWant {
				assert.NotContains(t, out, s)
			}
			assert.LessOrEqual(t, strings.Count(out, "\n"), tc.lines, "%s", out)
		})
	}
}

func TestMinimalShowsADifferentReplyPath(t *testing.T) {
	hops := hopsOfPing()
	// The reply comes back through node-2 instead of node-1.
	hops[14].Node, hops[15].Node = "node-2", "node-2"
	var b bytes.Buffer
	WriteMinimal(&b, hops, 0)
	assert.Contains(t, b.String(), "reply: pod-b eth0 ⇒ vpc vsw ⇒ node-2 eth1 → br0 → pod-a eth0  delivered")

	// Through node-1 again, but handed on without crossing br0 (as an
	// ipvlan ENI hands a reply to its slave): another path too.
	hops = hopsOfPing()
	hops = append(hops[:15], hops[16:]...)
	b.Reset()
	WriteMinimal(&b, hops, 0)
	assert.Contains(t, b.String(), "reply: pod-b eth0 ⇒ vpc vsw ⇒ node-1 eth1 → pod-a eth0  delivered")
}

func TestExchanges(t *testing.T) {
	mk := func(seqs ...int) []Hop {
		var hs []Hop
		for _, s := range seqs {
			hs = append(hs, Hop{Seq: s})
		}
		return hs
	}
	assert.Len(t, Exchanges(mk(1, 2, 3)), 1)
	assert.Len(t, Exchanges(mk(1, 2, 1, 2, 3, 1)), 3)
	assert.Empty(t, Exchanges(nil))
}

func TestParseLevelAndKind(t *testing.T) {
	for _, l := range Levels() {
		got, ok := ParseLevel(string(l))
		assert.True(t, ok)
		assert.Equal(t, l, got)
	}
	_, ok := ParseLevel("verbose")
	assert.False(t, ok)
	for _, k := range Kinds() {
		got, ok := ParseKind(string(k))
		assert.True(t, ok)
		assert.Equal(t, k, got)
	}
	_, ok = ParseKind("arpp")
	assert.False(t, ok)
}
