package netfilter

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Expected outputs are what iptables-save (iptables 1.8, legacy and nft
// backends alike) prints for the rule: -s -d -i -o -p first, then the
// matches in the order given with each match's options in its save
// order, then the target with its options in their save order.
func TestParseRuleCanonical(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{
			name: "kube-proxy cluster IP",
			in:   `-A KUBE-SERVICES -m comment --comment "default/web:http cluster IP" -m tcp -p tcp -d 172.21.0.10 --dport 80 -j KUBE-SVC-ABC`,
			want: `-A KUBE-SERVICES -d 172.21.0.10/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-ABC`,
		},
		{
			name: "kube-proxy mark masq",
			in:   `-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000`,
			want: `-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000`,
		},
		{
			name: "kube-proxy postrouting return",
			in:   `-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN`,
			want: `-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN`,
		},
		{
			name: "kube-proxy xor mark",
			in:   `-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000`,
			want: `-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0`,
		},
		{
			name: "kube-proxy masquerade",
			in:   `-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully`,
			want: `-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully`,
		},
		{
			name: "kube-proxy statistic",
			in:   `-A KUBE-SVC-ABC -m comment --comment "default/web:http -> 10.244.1.5:8080" -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-X`,
			want: `-A KUBE-SVC-ABC -m comment --comment "default/web:http -> 10.244.1.5:8080" -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-X`,
		},
		{
			name: "statistic one half",
			in:   `-A KUBE-SVC-ABC -m statistic --mode random --probability 0.5 -j KUBE-SEP-X`,
			want: `-A KUBE-SVC-ABC -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-X`,
		},
		{
			name: "kube-proxy session affinity check",
			in:   `-A KUBE-SVC-ABC -m comment --comment default/web:http -m recent --name KUBE-SEP-X --mask 255.255.255.255 --rsource --rcheck --seconds 10800 --reap -j KUBE-SEP-X`,
			want: `-A KUBE-SVC-ABC -m comment --comment "default/web:http" -m recent --rcheck --seconds 10800 --reap --name KUBE-SEP-X --mask 255.255.255.255 --rsource -j KUBE-SEP-X`,
		},
		{
			name: "kube-proxy session affinity set",
			in:   `-A KUBE-SEP-X -p tcp -m comment --comment default/web:http -m recent --set --name KUBE-SEP-X --mask 255.255.255.255 --rsource -m tcp -j DNAT --to-destination 10.244.1.5:8080`,
			want: `-A KUBE-SEP-X -p tcp -m comment --comment "default/web:http" -m recent --set --name KUBE-SEP-X --mask 255.255.255.255 --rsource -m tcp -j DNAT --to-destination 10.244.1.5:8080`,
		},
		{
			name: "recent defaults",
			in:   `-A INPUT -m recent --set`,
			want: `-A INPUT -m recent --set --name DEFAULT --mask 255.255.255.255 --rsource`,
		},
		{
			name: "recent rdest",
			in:   `-A INPUT -m recent --update --rdest --name X`,
			want: `-A INPUT -m recent --update --name X --mask 255.255.255.255 --rdest`,
		},
		{
			name: "kube-proxy endpoint hairpin",
			in:   `-A KUBE-SEP-X -s 10.244.1.5/32 -m comment --comment default/web:http -j KUBE-MARK-MASQ`,
			want: `-A KUBE-SEP-X -s 10.244.1.5/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ`,
		},
		{
			name: "kube-proxy DNAT",
			in:   `-A KUBE-SEP-X -m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination 10.244.1.5:8080`,
			want: `-A KUBE-SEP-X -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 10.244.1.5:8080`,
		},
		{
			name: "kube-proxy nodeports",
			in:   `-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS`,
			want: `-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS`,
		},
		{
			name: "addrtype option order",
			in:   `-A PREROUTING -m addrtype --limit-iface-in --dst-type LOCAL ! --src-type LOCAL -j RETURN`,
			want: `-A PREROUTING -m addrtype ! --src-type LOCAL --dst-type LOCAL --limit-iface-in -j RETURN`,
		},
		{
			name: "kube-proxy invalid drop",
			in:   `-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP`,
			want: `-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP`,
		},
		{
			name: "ctstate printed in kernel order",
			in:   `-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`,
			want: `-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
		},
		{
			name: "state alias",
			in:   `-A INPUT -m state ! --state new,established`,
			want: `-A INPUT -m state ! --state NEW,ESTABLISHED`,
		},
		{
			name: "ctstate DNAT",
			in:   `-A FORWARD -m conntrack --ctstate DNAT,SNAT,NEW -j ACCEPT`,
			want: `-A FORWARD -m conntrack --ctstate NEW,SNAT,DNAT -j ACCEPT`,
		},
		{
			name: "kube-proxy reject no endpoints",
			in:   `-A KUBE-SERVICES -d 172.21.0.20/32 -p tcp -m comment --comment "default/empty:http has no endpoints" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable`,
			want: `-A KUBE-SERVICES -d 172.21.0.20/32 -p tcp -m comment --comment "default/empty:http has no endpoints" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable`,
		},
		{
			name: "bare REJECT gets the default",
			in:   `-A INPUT -j REJECT`,
			want: `-A INPUT -j REJECT --reject-with icmp-port-unreachable`,
		},
		{
			name: "REJECT alias",
			in:   `-A INPUT -p tcp -j REJECT --reject-with tcp-rst`,
			want: `-A INPUT -p tcp -j REJECT --reject-with tcp-reset`,
		},
		{
			name: "REJECT host-prohib",
			in:   `-A FORWARD -j REJECT --reject-with host-prohib`,
			want: `-A FORWARD -j REJECT --reject-with icmp-host-prohibited`,
		},
		{
			name: "flannel masq return",
			in:   `-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment "flanneld masq" -j RETURN`,
			want: `-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment "flanneld masq" -j RETURN`,
		},
		{
			name: "flannel masquerade",
			in:   `-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully`,
			want: `-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully`,
		},
		{
			name: "flannel mark",
			in:   `-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN`,
			want: `-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN`,
		},
		{
			name: "flannel forward",
			in:   `-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT`,
			want: `-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT`,
		},
		{
			name: "basic options reordered, host bits masked, long names",
			in:   `--append FORWARD --protocol udp --out-interface eth0 --in-interface cni0 --destination 10.11.12.13/8 --source 10.244.1.77/24 --jump ACCEPT`,
			want: `-A FORWARD -s 10.244.1.0/24 -d 10.0.0.0/8 -i cni0 -o eth0 -p udp -j ACCEPT`,
		},
		{
			name: "interface wildcard and inversion",
			in:   `-A FORWARD ! -i veth+ -o cni0 -j ACCEPT`,
			want: `-A FORWARD ! -i veth+ -o cni0 -j ACCEPT`,
		},
		{
			name: "protocol by number",
			in:   `-A INPUT -p 6 -m tcp --dport 22 -j ACCEPT`,
			want: `-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT`,
		},
		{
			name: "-p all and 0.0.0.0/0 are not printed",
			in:   `-A INPUT -s 0.0.0.0/0 -p all -j ACCEPT`,
			want: `-A INPUT -j ACCEPT`,
		},
		{
			name: "inverted 0.0.0.0/0 is printed",
			in:   `-A INPUT ! -d 0.0.0.0/0 -j ACCEPT`,
			want: `-A INPUT ! -d 0.0.0.0/0 -j ACCEPT`,
		},
		{
			name: "-m tcp before -p",
			in:   `-A INPUT -m tcp --dport 1 -p tcp`,
			want: `-A INPUT -p tcp -m tcp --dport 1`,
		},
		{
			name: "sport printed before dport",
			in:   `-A INPUT -p tcp -m tcp --dport 80 ! --sport 1024:65535 -j ACCEPT`,
			want: `-A INPUT -p tcp -m tcp ! --sport 1024:65535 --dport 80 -j ACCEPT`,
		},
		{
			name: "implicit udp match, open ranges",
			in:   `-A INPUT -p udp --sport 1024: --dport :53 -j ACCEPT`,
			want: `-A INPUT -p udp -m udp --sport 1024:65535 --dport 0:53 -j ACCEPT`,
		},
		{
			name: "full port range is not printed",
			in:   `-A INPUT -p tcp -m tcp --dport 0:65535`,
			want: `-A INPUT -p tcp -m tcp`,
		},
		{
			name: "single-port range collapses",
			in:   `-A INPUT -p tcp --dport 4:4`,
			want: `-A INPUT -p tcp -m tcp --dport 4`,
		},
		{
			name: "multiport",
			in:   `-A KUBE-SERVICES -p tcp -m multiport --dports 80,443,8000:8080 -j ACCEPT`,
			want: `-A KUBE-SERVICES -p tcp -m multiport --dports 80,443,8000:8080 -j ACCEPT`,
		},
		{
			name: "comment quoting: bare",
			in:   `-A INPUT -m comment --comment kube_proxy-42 -j ACCEPT`,
			want: `-A INPUT -m comment --comment kube_proxy-42 -j ACCEPT`,
		},
		{
			name: "comment quoting: quoted even without spaces",
			in:   `-A INPUT -m comment --comment a.b -j ACCEPT`,
			want: `-A INPUT -m comment --comment "a.b" -j ACCEPT`,
		},
		{
			name: "comment quoting: escapes",
			in:   `-A INPUT -m comment --comment "say \"hi\" it's a\\b" -j ACCEPT`,
			want: `-A INPUT -m comment --comment "say \"hi\" it\'s a\\b" -j ACCEPT`,
		},
		{
			name: "comment quoting: bare input with a colon",
			in:   `-A INPUT -m comment --comment ns/svc:port -j ACCEPT`,
			want: `-A INPUT -m comment --comment "ns/svc:port" -j ACCEPT`,
		},
		{
			name: "set-mark without mask",
			in:   `-A PREROUTING -j MARK --set-mark 0x1`,
			want: `-A PREROUTING -j MARK --set-xmark 0x1/0xffffffff`,
		},
		{
			name: "set-mark with mask",
			in:   `-A PREROUTING -j MARK --set-mark 0x1/0xf0`,
			want: `-A PREROUTING -j MARK --set-xmark 0x1/0xf1`,
		},
		{
			name: "and-mark",
			in:   `-A PREROUTING -j MARK --and-mark 0xffff0000`,
			want: `-A PREROUTING -j MARK --set-xmark 0x0/0xffff`,
		},
		{
			name: "connmark match",
			in:   `-A PREROUTING -m connmark --mark 0x2 -j ACCEPT`,
			want: `-A PREROUTING -m connmark --mark 0x2 -j ACCEPT`,
		},
		{
			name: "DNAT with --to and --random",
			in:   `-A PREROUTING -p udp --random -j DNAT --random --to 10.96.0.10:53`,
			want: "",
		},
		{
			name: "DNAT options in save order",
			in:   `-A PREROUTING -p udp -j DNAT --persistent --random --to 10.244.1.5:53`,
			want: `-A PREROUTING -p udp -j DNAT --to-destination 10.244.1.5:53 --random --persistent`,
		},
		{
			name: "DNAT address only",
			in:   `-A OUTPUT -j DNAT --to-destination 10.244.1.5`,
			want: `-A OUTPUT -j DNAT --to-destination 10.244.1.5`,
		},
		{
			name: "SNAT options in save order",
			in:   `-A POSTROUTING -p tcp -j SNAT --random-fully --to-source 192.168.0.10:2000`,
			want: `-A POSTROUTING -p tcp -j SNAT --to-source 192.168.0.10:2000 --random-fully`,
		},
		{
			name: "MASQUERADE options in save order",
			in:   `-A POSTROUTING -p tcp -j MASQUERADE --random-fully --random --to-ports 20000:30000`,
			want: `-A POSTROUTING -p tcp -j MASQUERADE --to-ports 20000-30000 --random --random-fully`,
		},
		{
			name: "MASQUERADE single port",
			in:   `-A POSTROUTING -p udp -j MASQUERADE --to-ports 5000-5000`,
			want: `-A POSTROUTING -p udp -j MASQUERADE --to-ports 5000`,
		},
		{
			name: "goto",
			in:   `-A KUBE-SVC-ABC -g KUBE-SEP-X`,
			want: `-A KUBE-SVC-ABC -g KUBE-SEP-X`,
		},
		{
			name: "LOG prefix",
			in:   `-A INPUT -j LOG --log-prefix "dropped: "`,
			want: `-A INPUT -j LOG --log-prefix "dropped: "`,
		},
		{
			name: "no target",
			in:   `-A INPUT -s 10.0.0.1`,
			want: `-A INPUT -s 10.0.0.1/32`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseRule(tc.in)
			if tc.want == "" {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, r.String())

			// The canonical form is a fixed point.
			r2, err := ParseRule(r.String())
			require.NoError(t, err, "reparse %q", r.String())
			assert.Equal(t, tc.want, r2.String())
			assert.Equal(t, r.Chain, r2.Chain)
			assert.Equal(t, r.Target, r2.Target)
			assert.Equal(t, r.JumpTo, r2.JumpTo)
			assert.Equal(t, r.Comment, r2.Comment)
		})
	}
}

func TestParseRuleFields(t *testing.T) {
	r, err := ParseRule(`-A KUBE-SVC-ABC -m comment --comment "default/web:http -> 10.244.1.5:8080" -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-X`)
	require.NoError(t, err)
	assert.Equal(t, "KUBE-SVC-ABC", r.Chain)
	assert.Equal(t, "default/web:http -> 10.244.1.5:8080", r.Comment)
	assert.Equal(t, TJump, r.Target)
	assert.Equal(t, "KUBE-SEP-X", r.JumpTo)
	assert.Equal(t, uint32(715827883), r.probRaw, "lround(0.3333333333 * 2^31)")
	assert.Equal(t, `-m comment --comment "default/web:http -> 10.244.1.5:8080" -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-X`, r.Spec())

	r, err = ParseRule(`-A X -j DNAT --to-destination 10.244.1.5`)
	require.NoError(t, err)
	assert.Equal(t, TDNAT, r.Target)
	assert.Equal(t, "10.244.1.5:0", r.natTo.String())
}

func TestParseRuleErrors(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string // substrings of the error
	}{
		{"no -A", `-I INPUT -j ACCEPT`, []string{"expected -A CHAIN"}},
		{"no chain", `-A`, []string{"expected -A CHAIN"}},
		{"bad source", `-A INPUT -s 10.0.0.300 -j ACCEPT`, []string{`-s "10.0.0.300"`, "expected an IPv4 address or CIDR"}},
		{"IPv6 source", `-A INPUT -s fd00::1 -j ACCEPT`, []string{`-s "fd00::1"`, "expected an IPv4 address or CIDR"}},
		{"bad protocol", `-A INPUT -p tcpp`, []string{`-p "tcpp"`, "expected tcp, udp, icmp, sctp, all or a protocol number"}},
		{"! -p all", `-A INPUT ! -p all -j ACCEPT`, []string{"would never match"}},
		{"missing value", `-A INPUT -s`, []string{"-s needs a value"}},
		{"dport without -p", `-A INPUT --dport 80 -j ACCEPT`, []string{"--dport needs -p tcp, -p udp or -p sctp"}},
		{"dport with -p icmp", `-A INPUT -p icmp --dport 80 -j ACCEPT`, []string{"--dport needs -p tcp, -p udp or -p sctp"}},
		{"-m tcp without -p", `-A INPUT -m tcp --dport 1`, []string{"-m tcp needs -p tcp"}},
		{"-m tcp with -p udp", `-A INPUT -p udp -m tcp --dport 1`, []string{"-m tcp needs -p tcp"}},
		{"bad port", `-A INPUT -p tcp --dport http`, []string{`--dport "http"`, "expected PORT or PORT:PORT"}},
		{"port out of range", `-A INPUT -p tcp --dport 65536`, []string{`--dport "65536"`}},
		{"backwards range", `-A INPUT -p tcp --sport 4:3`, []string{`--sport "4:3"`}},
		{"bad dports", `-A INPUT -p tcp -m multiport --dports 80,x`, []string{`--dports "80,x"`, "expected PORT"}},
		{"dports without multiport", `-A INPUT -p tcp --dports 80`, []string{"--dports needs -m multiport"}},
		{"bad addrtype", `-A INPUT -m addrtype --dst-type LOCALE`, []string{`--dst-type "LOCALE"`, "expected LOCAL, UNICAST, BROADCAST or MULTICAST"}},
		{"addrtype without -m", `-A INPUT --dst-type LOCAL`, []string{"--dst-type needs -m addrtype"}},
		{"bad mark", `-A INPUT -m mark --mark 0x4000/zz`, []string{`--mark "0x4000/zz"`, "expected VALUE[/MASK]"}},
		{"mark without -m", `-A INPUT --mark 1`, []string{"--mark needs -m mark or -m connmark"}},
		{"bad state", `-A INPUT -m conntrack --ctstate NEW,BOGUS`, []string{`--ctstate "NEW,BOGUS"`, `unknown state "BOGUS"`}},
		{"SNAT state is conntrack only", `-A INPUT -m state --state SNAT`, []string{`unknown state "SNAT"`}},
		{"ctstate without -m", `-A INPUT --ctstate NEW`, []string{"--ctstate needs -m conntrack"}},
		{"comment without -m", `-A INPUT --comment x`, []string{"--comment needs -m comment"}},
		{"unterminated quote", `-A INPUT -m comment --comment "abc`, []string{"unterminated quote"}},
		{"probability out of range", `-A X -m statistic --mode random --probability 1.5`, []string{`--probability "1.5"`, "between 0 and 1"}},
		{"statistic nth", `-A X -m statistic --mode nth --every 2`, []string{`--mode "nth"`, "only random"}},
		{"recent seconds", `-A X -m recent --rcheck --seconds soon`, []string{`--seconds "soon"`, "number of seconds"}},
		{"recent without -m", `-A X --rcheck`, []string{"recent options need -m recent"}},
		{"recent mask", `-A X -m recent --set --mask 255.255.255`, []string{`--mask "255.255.255"`}},
		{"DNAT without address", `-A PREROUTING -j DNAT`, []string{"-j DNAT needs --to-destination"}},
		{"SNAT without address", `-A POSTROUTING -j SNAT --random`, []string{"-j SNAT needs --to-source"}},
		{"DNAT bad address", `-A PREROUTING -p tcp -j DNAT --to-destination 10.244.1.5:http`, []string{`--to-destination "10.244.1.5:http"`, "expected IP or IP:PORT"}},
		{"DNAT port without -p", `-A PREROUTING -j DNAT --to-destination 10.244.1.5:8080`, []string{"a port needs -p tcp or -p udp"}},
		{"DNAT range", `-A PREROUTING -j DNAT --to-destination 10.0.0.1-10.0.0.9`, []string{"expected IP or IP:PORT"}},
		{"DNAT twice", `-A PREROUTING -j DNAT --to-destination 10.0.0.1 --to-destination 10.0.0.2`, []string{"given twice"}},
		{"DNAT random-fully", `-A PREROUTING -j DNAT --to-destination 10.0.0.1 --random-fully`, []string{`"--random-fully" is not modelled`}},
		{"MASQUERADE to-ports without -p", `-A POSTROUTING -j MASQUERADE --to-ports 1000`, []string{"--to-ports needs -p tcp or -p udp"}},
		{"MASQUERADE bad to-ports", `-A POSTROUTING -p tcp -j MASQUERADE --to-ports 2000-1000`, []string{`--to-ports "2000-1000"`, "expected PORT[-PORT]"}},
		{"MARK without op", `-A X -j MARK`, []string{"-j MARK needs --set-xmark"}},
		{"MARK bad value", `-A X -j MARK --or-mark 0xzz`, []string{`--or-mark "0xzz"`, "expected VALUE[/MASK]"}},
		{"bad reject-with", `-A INPUT -j REJECT --reject-with icmp-echo`, []string{`--reject-with "icmp-echo"`, "expected icmp-port-unreachable"}},
		{"tcp-reset needs tcp", `-A INPUT -p udp -j REJECT --reject-with tcp-reset`, []string{"tcp-reset needs -p tcp"}},
		{"unknown option", `-A INPUT -m tcp -p tcp --syn -j ACCEPT`, []string{`option "--syn" is not modelled`}},
		{"unknown match", `-A INPUT -m limit --limit 5/s -j ACCEPT`, []string{"-m limit: match not modelled by netsim (modelled: addrtype, comment, connmark, conntrack, ipvs, mark, multiport, nfacct, physdev, recent, sctp, set, state, statistic, tcp, udp)"}},
		{"two -p", `-A INPUT -p tcp -p udp -j ACCEPT`, []string{"multiple -p flags not allowed"}},
		{"two -s", `-A INPUT -s 10.0.0.1 --source 10.0.0.2 -j ACCEPT`, []string{"multiple --source flags not allowed"}},
		{"non-invertible option", `-A INPUT -m comment ! --comment x`, []string{`"! --comment"`, "inversion"}},
		{"double bang", `-A INPUT ! ! -s 10.0.0.1`, []string{`"!" given twice`}},
		{"trailing bang", `-A INPUT -j ACCEPT !`, []string{`"!" at the end`}},
		{"missing target", `-A INPUT -j`, []string{"-j needs a value"}},
		{"option as target", `-A INPUT -j --random`, []string{`-j "--random"`, "expected a target"}},
		{"long comment", `-A INPUT -m comment --comment ` + longWord(256), []string{"at most 255 characters"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRule(tc.in)
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func longWord(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'x'
	}
	return string(b)
}

func TestSplitArgs(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{`-A X  -j   ACCEPT`, []string{"-A", "X", "-j", "ACCEPT"}},
		{"-A X\t-j ACCEPT", []string{"-A", "X", "-j", "ACCEPT"}},
		{`--comment "a b"`, []string{"--comment", "a b"}},
		{`--comment "say \"hi\""`, []string{"--comment", `say "hi"`}},
		{`--comment "back\\slash"`, []string{"--comment", `back\slash`}},
		{`--comment ""`, []string{"--comment", ""}},
	}
	for _, tc := range tests {
		got, err := SplitArgs(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
}
