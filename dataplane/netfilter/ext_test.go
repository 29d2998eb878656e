package netfilter

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

func TestIPSetMatchByType(t *testing.T) {
	type probe struct {
		pkt  []byte
		want bool
	}
	tests := []struct {
		name, typ string
		entries   []string
		rule      string // the -m set options
		probes    func(t *testing.T) []probe
	}{
		{"hash:ip dst", SetHashIP, []string{"172.21.0.10"}, "--match-set S dst", func(t *testing.T) []probe {
			return []probe{
				{tcpPkt(t, "10.244.1.5", 1000, "172.21.0.10", 80, "S", ""), true},
				{tcpPkt(t, "172.21.0.10", 1000, "10.244.1.5", 80, "S", ""), false},
			}
		}},
		{"hash:ip src", SetHashIP, []string{"172.21.0.10"}, "--match-set S src", func(t *testing.T) []probe {
			return []probe{{tcpPkt(t, "172.21.0.10", 1000, "10.244.1.5", 80, "S", ""), true}}
		}},
		{"hash:ip,port dst,dst", SetHashIPPort, []string{"172.21.0.10,tcp:80", "172.21.0.10,udp:53"}, "--match-set S dst,dst", func(t *testing.T) []probe {
			return []probe{
				{tcpPkt(t, "10.244.1.5", 1000, "172.21.0.10", 80, "S", ""), true},
				{udpPkt(t, "10.244.1.5", 1000, "172.21.0.10", 80, ""), false}, // protocol is part of the entry
				{udpPkt(t, "10.244.1.5", 1000, "172.21.0.10", 53, ""), true},
				{tcpPkt(t, "10.244.1.5", 1000, "172.21.0.10", 81, "S", ""), false},
				{echoPkt(t, "10.244.1.5", "172.21.0.10", false, 1, 1), false},
			}
		}},
		{"hash:ip,port src,dst", SetHashIPPort, []string{"172.21.0.10,tcp:80"}, "--match-set S src,dst", func(t *testing.T) []probe {
			return []probe{
				{tcpPkt(t, "172.21.0.10", 1000, "172.21.0.10", 80, "S", ""), true},
				{tcpPkt(t, "10.244.1.5", 1000, "172.21.0.10", 80, "S", ""), false},
			}
		}},
		{"hash:ip,port,ip dst,dst,src (hairpin)", SetHashIPPortIP, []string{"10.244.1.5,tcp:8080,10.244.1.5"}, "--match-set S dst,dst,src", func(t *testing.T) []probe {
			return []probe{
				{tcpPkt(t, "10.244.1.5", 1000, "10.244.1.5", 8080, "S", ""), true},
				{tcpPkt(t, "10.244.1.6", 1000, "10.244.1.5", 8080, "S", ""), false},
			}
		}},
		{"hash:ip,port,net dst,dst,src", SetHashIPPortNet, []string{"1.2.3.4,tcp:443,203.0.113.0/25", "1.2.3.4,tcp:443,198.51.100.7"}, "--match-set S dst,dst,src", func(t *testing.T) []probe {
			return []probe{
				{tcpPkt(t, "203.0.113.9", 1000, "1.2.3.4", 443, "S", ""), true},
				{tcpPkt(t, "203.0.113.200", 1000, "1.2.3.4", 443, "S", ""), false},
				{tcpPkt(t, "198.51.100.7", 1000, "1.2.3.4", 443, "S", ""), true},
				{tcpPkt(t, "203.0.113.9", 1000, "1.2.3.4", 80, "S", ""), false},
			}
		}},
		{"hash:net src", SetHashNet, []string{"10.0.0.0/8", "192.168.0.7"}, "--match-set S src", func(t *testing.T) []probe {
			return []probe{
				{tcpPkt(t, "10.9.9.9", 1000, "1.2.3.4", 80, "S", ""), true},
				{tcpPkt(t, "192.168.0.7", 1000, "1.2.3.4", 80, "S", ""), true},
				{tcpPkt(t, "192.168.0.8", 1000, "1.2.3.4", 80, "S", ""), false},
			}
		}},
		{"bitmap:port dst", SetBitmapPort, []string{"30080", "udp:30053"}, "--match-set S dst", func(t *testing.T) []probe {
			return []probe{
				{tcpPkt(t, "1.1.1.1", 1000, "192.168.0.10", 30080, "S", ""), true},
				{udpPkt(t, "1.1.1.1", 1000, "192.168.0.10", 30080, ""), true}, // ports only: the rule adds -p
				{udpPkt(t, "1.1.1.1", 1000, "192.168.0.10", 30053, ""), true},
				{tcpPkt(t, "1.1.1.1", 1000, "192.168.0.10", 30081, "S", ""), false},
				{echoPkt(t, "1.1.1.1", "192.168.0.10", false, 1, 1), false},
			}
		}},
		{"too few dimensions never match", SetHashIPPort, []string{"172.21.0.10,tcp:80"}, "--match-set S dst", func(t *testing.T) []probe {
			return []probe{{tcpPkt(t, "10.244.1.5", 1000, "172.21.0.10", 80, "S", ""), false}}
		}},
		{"inverted", SetHashIP, []string{"172.21.0.10"}, "! --match-set S dst", func(t *testing.T) []probe {
			return []probe{
				{tcpPkt(t, "10.244.1.5", 1000, "172.21.0.10", 80, "S", ""), false},
				{tcpPkt(t, "10.244.1.5", 1000, "172.21.0.11", 80, "S", ""), true},
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, 1)
			require.NoError(t, r.nf.CreateSet("S", tc.typ))
			for _, e := range tc.entries {
				require.NoError(t, r.nf.AddToSet("S", e))
			}
			require.NoError(t, r.nf.Append("filter", "-A FORWARD -m set "+tc.rule+" -j DROP"))
			for i, p := range tc.probes(t) {
				res := r.run(p.pkt, r.cni0, r.eth0, netstack.Forward)
				assert.Equal(t, p.want, res.v.Kind == netstack.Drop, "probe %d", i)
			}
		})
	}
}

func TestIPSetSaveRestore(t *testing.T) {
	r := newRig(t, 1)
	doc := `create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536
add KUBE-CLUSTER-IP 172.21.0.10,udp:53
add KUBE-CLUSTER-IP 172.21.0.10,tcp:53
add KUBE-CLUSTER-IP 172.21.0.1,tcp:443
create KUBE-NODE-PORT-TCP bitmap:port range 0-65535
add KUBE-NODE-PORT-TCP 32000
add KUBE-NODE-PORT-TCP 30080
create KUBE-LOAD-BALANCER-SOURCE-CIDR hash:ip,port,net family inet hashsize 1024 maxelem 65536
add KUBE-LOAD-BALANCER-SOURCE-CIDR 1.2.3.4,tcp:443,203.0.113.0/25
add KUBE-LOAD-BALANCER-SOURCE-CIDR 1.2.3.4,tcp:443,198.51.100.7/32
create KUBE-IPVS-IPS hash:ip family inet hashsize 1024 maxelem 65536
add KUBE-IPVS-IPS 172.21.0.10
`
	require.NoError(t, r.nf.IPSetRestore(doc))
	want := `create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536
add KUBE-CLUSTER-IP 172.21.0.1,tcp:443
add KUBE-CLUSTER-IP 172.21.0.10,tcp:53
add KUBE-CLUSTER-IP 172.21.0.10,udp:53
create KUBE-NODE-PORT-TCP bitmap:port range 0-65535
add KUBE-NODE-PORT-TCP 30080
add KUBE-NODE-PORT-TCP 32000
create KUBE-LOAD-BALANCER-SOURCE-CIDR hash:ip,port,net family inet hashsize 1024 maxelem 65536
add KUBE-LOAD-BALANCER-SOURCE-CIDR 1.2.3.4,tcp:443,198.51.100.7
add KUBE-LOAD-BALANCER-SOURCE-CIDR 1.2.3.4,tcp:443,203.0.113.0/25
create KUBE-IPVS-IPS hash:ip family inet hashsize 1024 maxelem 65536
add KUBE-IPVS-IPS 172.21.0.10
`
	assert.Equal(t, want, r.nf.SaveIPSets())
	// The output restores to itself.
	r2 := newRig(t, 1)
	require.NoError(t, r2.nf.IPSetRestore(r.nf.SaveIPSets()))
	assert.Equal(t, want, r2.nf.SaveIPSets())
	// -exist makes a repeated restore a no-op.
	require.Error(t, r2.nf.IPSetRestore(want))
	require.NoError(t, r2.nf.IPSetRestore(strings.ReplaceAll(want, "\n", " -exist\n")))
	ok, err := r.nf.TestSet("KUBE-CLUSTER-IP", "172.21.0.10,udp:53")
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = r.nf.TestSet("KUBE-CLUSTER-IP", "172.21.0.10,80") // tcp by default
	require.NoError(t, err)
	assert.False(t, ok)
	require.NoError(t, r.nf.DelFromSet("KUBE-CLUSTER-IP", "172.21.0.10,udp:53"))
	require.NoError(t, r.nf.FlushSet("KUBE-NODE-PORT-TCP"))
	assert.Zero(t, r.nf.Set("KUBE-NODE-PORT-TCP").Len())
	assert.Equal(t, 2, r.nf.Set("KUBE-CLUSTER-IP").Len())
	assert.Len(t, r.nf.Sets(), 4)
}

func TestIPSetErrors(t *testing.T) {
	r := newRig(t, 1)
	require.NoError(t, r.nf.CreateSet("P", SetBitmapPort, "range", "30000-32767"))
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"unknown type", r.nf.CreateSet("X", "list:set"), `set type "list:set" is not modelled`},
		{"exists", r.nf.CreateSet("P", SetBitmapPort), "set with the same name already exists"},
		{"exists, other type, -exist", r.nf.CreateSet("P", SetHashIP, "-exist"), "set with the same name already exists"},
		{"IPv6", r.nf.CreateSet("Y", SetHashIP, "family", "inet6"), "only inet (IPv4) is modelled"},
		{"no set", r.nf.AddToSet("NOPE", "1.2.3.4"), "the set with the given name does not exist"},
		{"out of range", r.nf.AddToSet("P", "80"), "port 80 is outside of the range of the set (30000-32767)"},
		{"bad entry", r.nf.AddToSet("P", "1.2.3.4,80"), "1 part(s)"},
		{"twice", func() error { _ = r.nf.AddToSet("P", "30080"); return r.nf.AddToSet("P", "30080") }(), "element is already added"},
		{"del missing", r.nf.DelFromSet("P", "30081"), "element is missing from the set"},
		{"restore garbage", r.nf.IPSetRestore("swap A B\n"), `ipset restore line 1: cannot parse "swap A B"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Error(t, tc.err)
			assert.Contains(t, tc.err.Error(), tc.want)
		})
	}
	assert.NoError(t, r.nf.CreateSet("P", SetBitmapPort, "-exist"))
	// A rule needs its set; a set in use cannot be destroyed.
	err := r.nf.Append("filter", "-A INPUT -m set --match-set NOPE dst -j DROP")
	require.ErrorContains(t, err, "Set NOPE doesn't exist")
	require.NoError(t, r.nf.Append("filter", "-A INPUT -p tcp -m set --match-set P dst -j ACCEPT"))
	require.ErrorContains(t, r.nf.DestroySet("P"), "it is in use")
	require.NoError(t, r.nf.Restore("*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n"))
	require.NoError(t, r.nf.DestroySet("P"))
	assert.Nil(t, r.nf.Set("P"))
}

// The printed (iptables-save) form of the extension matches.
func TestExtMatchesCanonical(t *testing.T) {
	r := newRig(t, 1)
	require.NoError(t, r.nf.CreateSet("KUBE-CLUSTER-IP", SetHashIPPort))
	require.NoError(t, r.nf.NFAcctAdd("ct_state_invalid_dropped_pkts", false))
	tests := []struct{ in, out string }{
		{`-A INPUT -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst ! -s 10.0.0.0/8 -j ACCEPT`,
			`-A INPUT ! -s 10.0.0.0/8 -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT`},
		{`-A INPUT -m set ! --match-set KUBE-CLUSTER-IP src,dst -j ACCEPT`, `-A INPUT -m set ! --match-set KUBE-CLUSTER-IP src,dst -j ACCEPT`},
		{`-A INPUT -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT`,
			`-A INPUT -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT`},
		{`-A OUTPUT -s 5.6.7.8 -m ipvs --vaddr 5.6.7.8 --vproto tcp --vport 80 -j DROP`,
			`-A OUTPUT -s 5.6.7.8/32 -m ipvs --vproto 6 --vaddr 5.6.7.8/32 --vport 80 -j DROP`},
		{`-A OUTPUT -m ipvs --ipvs -j ACCEPT`, `-A OUTPUT -m ipvs --ipvs -j ACCEPT`},
		{`-A INPUT -m comment --comment ns/svc:sctp -m sctp -p sctp -d 172.21.0.9 --dport 9999 -j ACCEPT`,
			`-A INPUT -d 172.21.0.9/32 -p sctp -m comment --comment "ns/svc:sctp" -m sctp --dport 9999 -j ACCEPT`},
		{`-A FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name ct_state_invalid_dropped_pkts -j DROP`, // iptables-save prints two spaces after --nfacct-name (libxt_nfacct)
			`-A FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name  ct_state_invalid_dropped_pkts -j DROP`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			rl, err := ParseRule(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.out, rl.String())
			table := "filter"
			require.NoError(t, r.nf.Append(table, tc.in))
			// And the printed form parses back to itself.
			rl2, err := ParseRule(rl.String())
			require.NoError(t, err)
			assert.Equal(t, tc.out, rl2.String())
		})
	}
	for _, bad := range []struct{ rule, want string }{
		{`-A INPUT --match-set S dst -j DROP`, "--match-set needs -m set"},
		{`-A INPUT -m set --match-set S dst,src,dst,src -j DROP`, "at most 3 dimensions"},
		{`-A INPUT -m set --match-set S up -j DROP`, "expected src or dst"},
		{`-A INPUT -m ipvs --vproto bogus -j DROP`, `--vproto "bogus"`},
		{`-A INPUT -m nfacct --nfacct-name nope -j DROP`, `nfacct object "nope" not found`},
	} {
		err := r.nf.Append("filter", bad.rule)
		require.Error(t, err, bad.rule)
		assert.Contains(t, err.Error(), bad.want)
	}
}

func TestPhysdevIPVSAndNFAcctEvaluate(t *testing.T) {
	r := newRig(t, 1)
	require.NoError(t, r.nf.NFAcctAdd("c", false))
	require.Error(t, r.nf.NFAcctAdd("c", false))
	require.NoError(t, r.nf.NFAcctAdd("c", true))
	r.restore(`*filter
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m physdev ! --physdev-is-in -m nfacct --nfacct-name c -j DROP
-A OUTPUT -m ipvs --vaddr 5.6.7.8/32 --vproto tcp --vport 80 -j DROP
COMMIT
`)
	// Through the pod bridge: bridged, not dropped.
	assert.Equal(t, netstack.Accept, r.input(tcpPkt(t, "10.244.1.5", 1000, "10.244.1.1", 22, "S", ""), r.cni0).v.Kind)
	assert.Zero(t, r.nf.NFAcct("c").Packets, "nfacct counts only matching packets")
	// From eth0: not bridged, dropped and counted.
	assert.Equal(t, netstack.Drop, r.input(tcpPkt(t, "192.168.0.50", 1000, nodeIP, 22, "S", ""), r.eth0).v.Kind)
	assert.Equal(t, uint64(1), r.nf.NFAcct("c").Packets)
	assert.Equal(t, uint64(40), r.nf.NFAcct("c").Bytes)
	assert.Equal(t, "{ pkts = 00000000000000000001, bytes = 00000000000000000040 } = c;\n", r.nf.NFAcctList())

	// -m ipvs: without an IPVS lookup no packet is IPVS property.
	b := tcpPkt(t, "5.6.7.8", 1000, "10.244.2.7", 8080, "S", "")
	assert.Equal(t, netstack.Accept, r.output(b, r.flannel).v.Kind)
	var conn IPVSConn
	r.nf.SetIPVSLookup(func(*packet.Buffer) (IPVSConn, bool) { return conn, conn.VAddr.IsValid() })
	conn = IPVSConn{VAddr: netip.MustParseAddr("5.6.7.8"), VPort: 80, Proto: packet.ProtoTCP}
	assert.Equal(t, netstack.Drop, r.output(tcpPkt(t, "5.6.7.8", 1001, "10.244.2.7", 8080, "S", ""), r.flannel).v.Kind)
	conn.VPort = 443
	assert.Equal(t, netstack.Accept, r.output(tcpPkt(t, "5.6.7.8", 1002, "10.244.2.7", 8080, "S", ""), r.flannel).v.Kind)
}

func TestInsertCheckDelete(t *testing.T) {
	r := newRig(t, 1)
	require.NoError(t, r.nf.NewChain("nat", "FLANNEL-POSTRTG"))
	require.NoError(t, r.nf.NewChain("nat", "KUBE-POSTROUTING"))
	require.NoError(t, r.nf.Append("nat", `-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG`))
	require.NoError(t, r.nf.Insert("nat", `-I POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING`))
	require.NoError(t, r.nf.Insert("nat", `-I POSTROUTING 3 -s 10.0.0.0/8 -j RETURN`), "one past the end appends")
	require.NoError(t, r.nf.Insert("nat", `-I POSTROUTING 2 -d 10.0.0.0/8 -j RETURN`))
	assert.Equal(t, `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:FLANNEL-POSTRTG - [0:0]
:KUBE-POSTROUTING - [0:0]
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A POSTROUTING -d 10.0.0.0/8 -j RETURN
-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG
-A POSTROUTING -s 10.0.0.0/8 -j RETURN
COMMIT
`, r.nf.Save(false, "nat"))
	ok, err := r.nf.Check("nat", `-C POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING`)
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = r.nf.Check("nat", `-A POSTROUTING -d 10.0.0.0/8 -j RETURN`)
	require.NoError(t, err)
	assert.True(t, ok, "the rule is compared in canonical form (10.0.0.0/8 written either way)")
	ok, err = r.nf.Check("nat", `-A POSTROUTING -d 10.0.0.0/16 -j RETURN`)
	require.NoError(t, err)
	assert.False(t, ok)
	require.NoError(t, r.nf.Delete("nat", `-D POSTROUTING -d 10.0.0.0/8 -j RETURN`))
	require.ErrorContains(t, r.nf.Delete("nat", `-D POSTROUTING -d 10.0.0.0/8 -j RETURN`), "Bad rule")
	require.ErrorContains(t, r.nf.Insert("nat", `-I POSTROUTING 9 -j RETURN`), "Index of insertion too big")
	require.ErrorContains(t, r.nf.Insert("nat", `-A POSTROUTING -j RETURN`), "expected -I CHAIN")
	require.ErrorContains(t, r.nf.DeleteChain("nat", "KUBE-POSTROUTING"), "Too many links")
	require.ErrorContains(t, r.nf.DeleteChain("nat", "POSTROUTING"), "builtin")
}

func TestRestoreNoFlush(t *testing.T) {
	r := newRig(t, 1)
	r.restore(`*nat
:POSTROUTING ACCEPT [0:0]
:FLANNEL-POSTRTG - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-OLD - [0:0]
-A POSTROUTING -j FLANNEL-POSTRTG
-A FLANNEL-POSTRTG -j MASQUERADE
-A KUBE-SERVICES -d 172.21.0.1/32 -j KUBE-SVC-OLD
-A KUBE-SVC-OLD -j RETURN
COMMIT
`)
	// kube-proxy's sync: KUBE-SERVICES and KUBE-SVC-OLD named (flushed),
	// KUBE-SVC-OLD deleted, a new chain created; FLANNEL-POSTRTG and the
	// builtin POSTROUTING untouched.
	require.NoError(t, r.nf.RestoreNoFlush(`*nat
:KUBE-SERVICES - [0:0]
:KUBE-SVC-NEW - [0:0]
:KUBE-SVC-OLD - [0:0]
-A KUBE-SERVICES -d 172.21.0.2/32 -j KUBE-SVC-NEW
-A KUBE-SVC-NEW -j RETURN
-X KUBE-SVC-OLD
COMMIT
`))
	assert.Equal(t, `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:FLANNEL-POSTRTG - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-NEW - [0:0]
-A POSTROUTING -j FLANNEL-POSTRTG
-A FLANNEL-POSTRTG -j MASQUERADE
-A KUBE-SERVICES -d 172.21.0.2/32 -j KUBE-SVC-NEW
-A KUBE-SVC-NEW -j RETURN
COMMIT
`, r.nf.Save(false, "nat"))

	// An error leaves the table as it was.
	before := r.nf.Save(false, "nat")
	err := r.nf.RestoreNoFlush("*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-X - [0:0]\n-A KUBE-SERVICES -j KUBE-NOWHERE\nCOMMIT\n")
	require.ErrorContains(t, err, `jump to unknown chain "KUBE-NOWHERE"`)
	assert.Equal(t, before, r.nf.Save(false, "nat"))
	err = r.nf.RestoreNoFlush("*nat\n:KUBE-SVC-NEW - [0:0]\n-X KUBE-SVC-NEW\nCOMMIT\n")
	require.ErrorContains(t, err, "Too many links", "KUBE-SERVICES still jumps to it")
	assert.Equal(t, before, r.nf.Save(false, "nat"))
	for _, bad := range []struct{ doc, want string }{
		{"*nat\n:KUBE-SERVICES DROP [0:0]\nCOMMIT\n", "cannot have policy"},
		{"*nat\n-X KUBE-NOPE\nCOMMIT\n", "No chain/target/match by that name"},
		{"*nat\n-N KUBE-SERVICES\nCOMMIT\n", "Chain already exists"},
		{"*nat\n", "has no COMMIT"},
		{"*bogus\nCOMMIT\n", "unknown table"},
	} {
		require.ErrorContains(t, r.nf.RestoreNoFlush(bad.doc), bad.want)
		assert.Equal(t, before, r.nf.Save(false, "nat"))
	}
	// A builtin chain named with a policy takes the policy, keeps its rules.
	require.NoError(t, r.nf.RestoreNoFlush("*nat\n:POSTROUTING DROP [0:0]\nCOMMIT\n"))
	assert.Contains(t, r.nf.Save(false, "nat"), ":POSTROUTING DROP [0:0]\n")
	assert.Contains(t, r.nf.Save(false, "nat"), "-A POSTROUTING -j FLANNEL-POSTRTG\n")
}

// DROP/REJECT rules carry the reason the verdict reports.
func TestDropReasons(t *testing.T) {
	tests := []struct {
		rule string
		want trace.Reason
	}{
		{`-A KUBE-SERVICES -m comment --comment "ns/svc:p has no endpoints" -m tcp -p tcp -d 172.21.0.9 --dport 80 -j REJECT`, trace.ReasonNoEndpoints},
		{`-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns/svc:p has no local endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30080 -j DROP`, trace.ReasonNoLocalEndpoint},
		{`-A KUBE-PROXY-FIREWALL -m comment --comment "ns/svc:p traffic not accepted by KUBE-FW-ABCDEFGHIJKLMNOP" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j DROP`, trace.ReasonSourceRangeDenied},
		{`-A KUBE-SOURCE-RANGES-FIREWALL -j DROP`, trace.ReasonSourceRangeDenied},
		{`-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP`, trace.ReasonCTInvalid},
		{`-A INPUT -m conntrack --ctstate INVALID,NEW -j DROP`, trace.ReasonNone},
		{`-A INPUT -m comment --comment "has no endpoints" -j ACCEPT`, trace.ReasonNone},
		{`-A INPUT -j DROP`, trace.ReasonNone},
	}
	for _, tc := range tests {
		rl, err := ParseRule(tc.rule)
		require.NoError(t, err)
		assert.Equal(t, tc.want, rl.Reason, tc.rule)
	}
	r := newRig(t, 1)
	r.restore(`*filter
:FORWARD ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
-A FORWARD -m conntrack --ctstate NEW -j KUBE-SERVICES
-A KUBE-SERVICES -m comment --comment "default/empty:http has no endpoints" -m tcp -p tcp -d 172.21.0.9 --dport 80 -j REJECT
-A FORWARD -p tcp --dport 81 -j DROP
COMMIT
`)
	v := r.forward(tcpPkt(t, "10.244.1.5", 1000, "172.21.0.9", 80, "S", ""), r.cni0, r.eth0).v
	assert.Equal(t, netstack.Reject, v.Kind)
	assert.Equal(t, trace.ReasonNoEndpoints, v.Reason)
	v = r.forward(tcpPkt(t, "10.244.1.5", 1001, "172.21.0.9", 81, "S", ""), r.cni0, r.eth0).v
	assert.Equal(t, trace.ReasonFiltered, v.Reason, "other rules report filtered")
	// A reason set by hand wins.
	r.rule("filter", "FORWARD", 1).Reason = trace.ReasonPolicyDenied
	v = r.forward(tcpPkt(t, "10.244.1.5", 1002, "172.21.0.9", 81, "S", ""), r.cni0, r.eth0).v
	assert.Equal(t, trace.ReasonPolicyDenied, v.Reason)
}
