package netfilter

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/netstack"
)

// TestTrailImpureOnlyWhenReached checks that a walk is recorded as a
// trail unless it evaluated an impure match: a rule whose earlier matches
// fail never reaches its statistic, addrtype or nfacct match (kube-proxy's
// "-m conntrack --ctstate INVALID -m nfacct" rule in KUBE-FORWARD is met by
// every forwarded packet), while a rule whose impure match is reached
// keeps the walk off the trail table. Every counter moves the same either
// way.
func TestTrailImpureOnlyWhenReached(t *testing.T) {
	cases := []struct {
		name   string
		rule   string
		replay bool // the second and later packets replay a trail
	}{
		{"pure", "-A FORWARD -s 10.244.1.0/24 -j ACCEPT", true},
		{"nfacct behind a failing ctstate", "-A FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name c -j DROP", true},
		{"nfacct reached", "-A FORWARD -m conntrack --ctstate NEW,ESTABLISHED -m nfacct --nfacct-name c", false},
		{"addrtype behind a failing source", "-A FORWARD -s 10.9.0.0/16 -m addrtype --dst-type LOCAL -j DROP", true},
		{"addrtype reached", "-A FORWARD -s 10.244.1.0/24 -m addrtype --dst-type LOCAL -j DROP", false},
		{"statistic reached", "-A FORWARD -m statistic --mode random --probability 0.99999999995", false},
		{"statistic behind a failing port", "-A FORWARD -p udp --dport 9 -m statistic --mode random --probability 0.5 -j DROP", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, 1)
			require.NoError(t, r.nf.NFAcctAdd("c", true))
			r.restore("*filter\n:FORWARD ACCEPT [0:0]\n" + tc.rule + "\n-A FORWARD -d 10.244.2.0/24 -j ACCEPT\nCOMMIT\n")
			const n = 5
			for i := 0; i < n; i++ {
				s := r.forward(udpPkt(t, "10.244.1.5", 4000, "10.244.2.7", 9000, "x"), r.cni0, r.flannel)
				require.Equal(t, netstack.Accept, s.v.Kind, "packet %d", i)
				s.pkt.Free()
			}
			if tc.replay {
				assert.Equal(t, uint64(n-1), r.nf.Replayed, "every packet after the first replays the FORWARD walk")
			} else {
				assert.Zero(t, r.nf.Replayed, "a walk that evaluated an impure match is never replayed")
			}
			fwd := r.nf.tbl[tFilter].Chains["FORWARD"]
			var matched uint64
			for _, ru := range fwd.Rules {
				matched += ru.Packets
			}
			assert.NotZero(t, matched, "the rules' counters moved")
		})
	}
}
