package netfilter

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/netstack"
)

func TestRestoreSaveRoundTrip(t *testing.T) {
	r := newRig(t, 1)
	doc := kubeProxyNAT + `*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:FLANNEL-FWD - [0:0]
:KUBE-FORWARD - [0:0]
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD
-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT
-A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
`
	r.restore(doc)
	// What kube-proxy writes and what iptables-save prints differ only in
	// the MARK target, which is always saved as --set-xmark.
	saved := strings.NewReplacer("-j MARK --or-mark 0x4000", "-j MARK --set-xmark 0x4000/0x4000",
		"-j MARK --xor-mark 0x4000", "-j MARK --set-xmark 0x4000/0x0").Replace(doc)
	require.NotEqual(t, doc, saved)
	assert.Equal(t, saved, r.nf.Save(false, "nat", "filter"))
	assert.Equal(t, saved, r.nf.Save(false), "nat and filter by default")
	doc = saved

	// Restoring the output again is a fixed point.
	r2 := newRig(t, 1)
	r2.restore(r.nf.Save(false))
	assert.Equal(t, doc, r2.nf.Save(false))

	// With counters, after some traffic.
	r.forward(tcpPkt(t, "10.244.1.5", 40000, "172.21.0.10", 80, "S", ""), r.cni0, r.flannel)
	withCounters := r.nf.Save(true, "filter")
	assert.Contains(t, withCounters, "[1:40] -A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD\n")
	assert.Contains(t, withCounters, "[1:40] -A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment \"flanneld forward\" -j ACCEPT\n")
	assert.Contains(t, withCounters, "[0:0] -A FLANNEL-FWD -d 10.244.0.0/16")
	// iptables-restore takes counter prefixes (and ignores them without -c).
	r3 := newRig(t, 1)
	r3.restore(withCounters)
	assert.Equal(t, r.nf.Save(false, "filter"), r3.nf.Save(false, "filter"))
	assert.Zero(t, r3.rule("filter", "FORWARD", 0).Packets)

	// Tables not in the input are kept; those in it are flushed.
	r.restore("*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n")
	assert.Equal(t, "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n", r.nf.Save(false, "filter"))
	assert.Contains(t, r.nf.Save(false, "nat"), "-A KUBE-SVC-WEB")
}

func TestRestoreCanonicalizes(t *testing.T) {
	r := newRig(t, 1)
	r.restore(`# written by hand
*nat
:POSTROUTING ACCEPT [12:34]
:MY-MASQ - [0:0]
-A POSTROUTING -j MY-MASQ
-A MY-MASQ -m comment --comment masq -j MASQUERADE --random-fully
-A MY-MASQ -p tcp --dport 80 -d 10.1.2.3 -j DNAT --to 10.244.1.5:8080
COMMIT
`)
	// The DNAT in a user chain is accepted (hooks of user chains are not
	// checked); the policy counter on input is ignored.
	assert.Equal(t, `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:MY-MASQ - [0:0]
-A POSTROUTING -j MY-MASQ
-A MY-MASQ -m comment --comment masq -j MASQUERADE --random-fully
-A MY-MASQ -d 10.1.2.3/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.1.5:8080
COMMIT
`, r.nf.Save(false, "nat"))
}

func TestRestoreNewChainAndSort(t *testing.T) {
	r := newRig(t, 1)
	r.restore("*filter\n-N ZED\n-N ALPHA\n-A ZED -j RETURN\n-A ALPHA -j ACCEPT\n-A INPUT -j ZED\nCOMMIT\n")
	// iptables-save prints user chains sorted by name whatever the order
	// they were created in (libiptc inserts them sorted).
	sorted := "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:ALPHA - [0:0]\n:ZED - [0:0]\n" +
		"-A INPUT -j ZED\n-A ALPHA -j ACCEPT\n-A ZED -j RETURN\nCOMMIT\n"
	assert.Equal(t, sorted, r.nf.Save(false, "filter"))
	r.nf.SortUserChains("filter")
	assert.Equal(t, "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:ALPHA - [0:0]\n:ZED - [0:0]\n"+
		"-A INPUT -j ZED\n-A ALPHA -j ACCEPT\n-A ZED -j RETURN\nCOMMIT\n", r.nf.Save(false, "filter"))
}

func TestRestoreErrors(t *testing.T) {
	tests := []struct {
		name, doc string
		want      []string
	}{
		{"unknown table", "*broute\nCOMMIT\n", []string{"line 1", `unknown table "broute"`}},
		{"chain outside table", ":INPUT ACCEPT [0:0]\n", []string{"line 1", "chain before a *table line"}},
		{"chain without policy", "*filter\n:INPUT\nCOMMIT\n", []string{"line 2", "expected :CHAIN POLICY"}},
		{"bad builtin policy", "*filter\n:INPUT REJECT [0:0]\nCOMMIT\n", []string{"line 2", `policy "REJECT" of builtin chain INPUT`}},
		{"policy on user chain", "*filter\n:MINE DROP [0:0]\nCOMMIT\n", []string{"line 2", `user chain MINE cannot have policy "DROP"`}},
		{"rule outside table", "-A INPUT -j ACCEPT\n", []string{"line 1", "rule before a *table line"}},
		{"COMMIT outside table", "COMMIT\n", []string{"line 1", "COMMIT without a table"}},
		{"missing COMMIT", "*filter\n-A INPUT -j ACCEPT\n", []string{"table filter has no COMMIT"}},
		{"missing COMMIT before next table", "*filter\n*nat\nCOMMIT\n", []string{"line 2", "table filter has no COMMIT"}},
		{"garbage", "*filter\n-I INPUT -j ACCEPT\nCOMMIT\n", []string{"line 2", `cannot parse "-I INPUT -j ACCEPT"`}},
		{"bad rule", "*filter\n-A INPUT -p tcp --dport 99999 -j ACCEPT\nCOMMIT\n", []string{"line 3 (COMMIT)", `--dport "99999"`}},
		{"unknown jump", "*filter\n-A INPUT -j NOWHERE\nCOMMIT\n", []string{`jump to unknown chain "NOWHERE"`}},
		{"rule in undeclared chain", "*filter\n-A NOWHERE -j ACCEPT\nCOMMIT\n", []string{`no chain "NOWHERE"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, 1)
			err := r.nf.Restore(tc.doc)
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestRestoreIsAtomicPerTable(t *testing.T) {
	r := newRig(t, 1)
	r.restore("*filter\n:FORWARD DROP [0:0]\n-A FORWARD -i cni0 -j ACCEPT\nCOMMIT\n")
	before := r.nf.Save(false)
	err := r.nf.Restore("*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -j MASQUERADE\nCOMMIT\n*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -j BOGUS\nCOMMIT\n")
	require.Error(t, err)
	after := r.nf.Save(false)
	assert.Contains(t, after, "-A POSTROUTING -j MASQUERADE", "the nat table was committed before the error")
	assert.Equal(t, before[strings.Index(before, "*filter"):], after[strings.Index(after, "*filter"):], "the failed filter table is unchanged")
	// And it still works.
	assert.Equal(t, netstack.Drop, r.forward(udpPkt(t, "8.8.8.8", 1, "10.244.1.5", 2, ""), r.eth0, r.cni0).v.Kind)
}

func TestNewChainAndPolicyAPI(t *testing.T) {
	r := newRig(t, 1)
	require.NoError(t, r.nf.NewChain("filter", "X"))
	require.NoError(t, r.nf.NewChain("filter", "X"), "existing chains are kept")
	require.Error(t, r.nf.NewChain("nope", "X"))
	require.NoError(t, r.nf.SetPolicy("filter", "FORWARD", TDrop))
	require.ErrorContains(t, r.nf.SetPolicy("filter", "X", TDrop), "X is not a builtin chain of filter")
	require.ErrorContains(t, r.nf.SetPolicy("nope", "INPUT", TDrop), `no table "nope"`)
	assert.Contains(t, r.nf.Save(false, "filter"), ":FORWARD DROP [0:0]\n")
	assert.Nil(t, r.nf.Table("nope"))
	assert.Equal(t, "", r.nf.Save(false, "nope"))
}
