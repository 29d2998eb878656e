package netfilter

import (
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// A Rule is one iptables rule. Rules are written in iptables syntax (what
// kube-proxy and flanneld feed to iptables-restore) and printed back in
// iptables-save's canonical form: -s -d -i -o -p first (0.0.0.0/0 and -p
// all left out), then the -m matches in the order given, each with its
// options in the order and spelling of the extension's save function
// (--sport before --dport, conntrack states in kernel order, MARK as
// --set-xmark, ...), then -j and the target's options likewise. Options
// and matches that are not modelled are parse errors, not silently
// ignored.

// match flags.
const (
	mSrc = 1 << iota
	mDst
	mIn
	mOut
	mProto
	mSPort
	mDPort
	mDstType
	mSrcType
	mMark
	mCTState
	mProb
	mRecent
	mDPorts
	mCTMark
	mExt // -m set, physdev, ipvs, nfacct (rule_ext.go)
)

// CT states for -m conntrack --ctstate / -m state --state.
const (
	StateNew uint8 = 1 << iota
	StateEstablished
	StateRelated
	StateInvalid
	StateUntracked
	StateDNAT
	StateSNAT
)

// Addr types for -m addrtype.
const (
	AddrLocal uint8 = 1 << iota
	AddrUnicast
	AddrBroadcast
	AddrMulticast
)

// TargetKind is what -j does.
type TargetKind uint8

// Targets.
const (
	TNone TargetKind = iota // no -j: counts only
	TAccept
	TDrop
	TReturn
	TJump
	TGoto
	TMark
	TConnmark
	TMasquerade
	TSNAT
	TDNAT
	TReject
	TLog
)

// Rule is one parsed rule.
type Rule struct {
	Chain string

	flags        uint32
	inv          uint32
	src, dst     netip.Prefix
	in, out      string
	proto        uint8
	sport, dport [2]uint16
	dports       [][2]uint16
	dstType      uint8
	limitIfaceIn bool
	srcType      uint8
	markVal      uint32
	markMask     uint32
	ctMarkVal    uint32
	ctMarkMask   uint32
	ctState      uint8
	probability  float64
	probRaw      uint32
	recent       *recentMatch

	// Comment is the -m comment text, if any.
	Comment string
	// Reason is the drop reason the rule reports when it drops or rejects
	// a packet (trace.ReasonNone: trace.ReasonFiltered). ParseRule derives
	// it from kube-proxy's comments (see deriveReason); callers may set it.
	Reason trace.Reason
	// Explain, if set, says why the rule dropped this packet (given the
	// packet's IPv4 bytes); the verdict's detail is its text followed by
	// the rule. Policy engines (dataplane/felix) set it on their drop
	// rules, so that a drop names the policy; it runs only on a drop.
	Explain func(ip []byte) string
	ext     *ruleExt

	Target      TargetKind
	JumpTo      string
	jump        *Chain
	markSetVal  uint32
	markSetMask uint32
	markOp      string // "--set-xmark", "--or-mark", ...
	natTo       netip.AddrPort
	natToRange  bool
	randomFully bool
	random      bool
	toPorts     [2]uint16
	rejectWith  string
	logPrefix   string

	// parts keeps the canonical printed pieces.
	basic, matches []string
	target         string

	// Packets and Bytes are the rule's counters (iptables -v).
	Packets, Bytes uint64
}

type recentMatch struct {
	name    string
	set     bool
	rcheck  bool
	update  bool
	seconds time.Duration
	reap    bool
	rsource bool
	mask    string
}

// save prints the recent match options in recent_mt_save's order.
func (rc *recentMatch) save() string {
	var parts []string
	switch {
	case rc.set:
		parts = append(parts, "--set")
	case rc.rcheck:
		parts = append(parts, "--rcheck")
	case rc.update:
		parts = append(parts, "--update")
	}
	if rc.seconds > 0 {
		parts = append(parts, fmt.Sprintf("--seconds %d", int(rc.seconds/time.Second)))
	}
	if rc.reap {
		parts = append(parts, "--reap")
	}
	parts = append(parts, "--name "+rc.name, "--mask "+rc.mask)
	if rc.rsource {
		parts = append(parts, "--rsource")
	} else {
		parts = append(parts, "--rdest")
	}
	return strings.Join(parts, " ")
}

// String prints the rule as iptables-save does: "-A CHAIN ... -j TARGET".
func (r *Rule) String() string {
	var b strings.Builder
	b.WriteString("-A ")
	b.WriteString(r.Chain)
	for _, p := range r.basic {
		b.WriteByte(' ')
		b.WriteString(p)
	}
	for _, p := range r.matches {
		if p == "" {
			continue
		}
		b.WriteByte(' ')
		b.WriteString(p)
	}
	if r.target != "" {
		b.WriteByte(' ')
		b.WriteString(r.target)
	}
	return b.String()
}

// Spec is the rule without "-A CHAIN".
func (r *Rule) Spec() string {
	s := r.String()
	return strings.TrimPrefix(s, "-A "+r.Chain+" ")
}

// SplitArgs splits a rule line into words, honouring double quotes as
// iptables-restore does.
func SplitArgs(line string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inQ, have := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\\' && inQ && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case c == '"':
			inQ = !inQ
			have = true
		case (c == ' ' || c == '\t') && !inQ:
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	if inQ {
		return nil, fmt.Errorf("unterminated quote in %q", line)
	}
	if have {
		out = append(out, cur.String())
	}
	return out, nil
}

// quote prints a string value as xtables_save_string does: bare when made
// only of [_-0-9a-zA-Z], double-quoted otherwise.
func quote(v string) string {
	ok := v != ""
	for i := 0; i < len(v) && ok; i++ {
		c := v[i]
		ok = c == '_' || c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
	}
	if ok {
		return v
	}
	return `"` + saveEscaper.Replace(v) + `"`
}

// saveEscaper escapes a quoted value as xtables_save_string does; built
// once (a Replacer builds its tables on first use, which cost more than
// the replacing when it was made for every rule).
var saveEscaper = strings.NewReplacer(`"`, `\"`, `\`, `\\`, `'`, `\'`)

var protoNames = map[string]uint8{"tcp": 6, "udp": 17, "icmp": 1, "sctp": 132, "ipencap": 4, "all": 0}

func protoName(p uint8) string {
	switch p {
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 1:
		return "icmp"
	case 132:
		return "sctp"
	case 4:
		// /etc/protocols' name for IP-in-IP, as iptables-save prints it.
		return "ipencap"
	}
	return strconv.Itoa(int(p))
}

// ParseRule parses one rule line ("-A CHAIN ...").
func ParseRule(line string) (*Rule, error) {
	args, err := SplitArgs(line)
	if err != nil {
		return nil, err
	}
	if len(args) < 2 || (args[0] != "-A" && args[0] != "--append") {
		return nil, fmt.Errorf("rule %q: expected -A CHAIN ...", line)
	}
	r := &Rule{Chain: args[1]}
	p := &ruleParser{r: r, args: args[2:], line: line}
	if err := p.parse(); err != nil {
		return nil, err
	}
	return r, nil
}

type ruleParser struct {
	r      *Rule
	args   []string
	line   string
	i      int
	neg    bool
	module string
	// pieces, kept in canonical groups
	src, dst, in, out, proto string
	recentAt                 int
	// ports is the -m tcp / -m udp match being filled (its options are
	// printed --sport first, as tcp_save does); addr the -m addrtype one.
	ports    *portOpts
	allPorts []*portOpts
	addr     *addrOpts
	allAddr  []*addrOpts
	portOpt  string   // the first --sport/--dport seen, for errors
	loaded   []string // the -m modules so far
}

// portOpts collects the options of one tcp/udp match.
type portOpts struct {
	at           int
	proto        string
	sport, dport string
}

// addrOpts collects the options of one addrtype match, printed as
// addrtype_save_v1 does: --src-type, --dst-type, --limit-iface-in.
type addrOpts struct {
	at              int
	src, dst, limit string
}

func (p *ruleParser) next() (string, error) {
	if p.i >= len(p.args) {
		return "", fmt.Errorf("rule %q: %s needs a value", p.line, p.args[p.i-1])
	}
	v := p.args[p.i]
	p.i++
	return v, nil
}

func (p *ruleParser) errf(format string, a ...any) error {
	return fmt.Errorf("rule %q: %s", p.line, fmt.Sprintf(format, a...))
}

func bang(neg bool) string {
	if neg {
		return "! "
	}
	return ""
}

func parsePrefix(v string) (netip.Prefix, error) {
	if strings.Contains(v, "/") {
		pf, err := netip.ParsePrefix(v)
		if err != nil {
			return pf, err
		}
		return pf.Masked(), nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, 32), nil
}

// parsePortRange parses PORT, PORT:PORT, PORT: (to 65535) and :PORT (from
// 0), as xtables_parse_port_range does.
func parsePortRange(v string) ([2]uint16, error) {
	lo, hi, rng := strings.Cut(v, ":")
	if !rng {
		a, err := strconv.ParseUint(lo, 10, 16)
		return [2]uint16{uint16(a), uint16(a)}, err
	}
	a, b := uint64(0), uint64(65535)
	var err error
	if lo != "" {
		if a, err = strconv.ParseUint(lo, 10, 16); err != nil {
			return [2]uint16{}, err
		}
	}
	if hi != "" {
		if b, err = strconv.ParseUint(hi, 10, 16); err != nil {
			return [2]uint16{}, err
		}
	}
	if a > b {
		return [2]uint16{}, fmt.Errorf("range %d:%d is backwards", a, b)
	}
	return [2]uint16{uint16(a), uint16(b)}, nil
}

func portText(r [2]uint16) string {
	if r[0] == r[1] {
		return strconv.Itoa(int(r[0]))
	}
	return fmt.Sprintf("%d:%d", r[0], r[1])
}

func parseMark(v string) (uint32, uint32, error) {
	val, mask, hasMask := strings.Cut(v, "/")
	a, err := strconv.ParseUint(val, 0, 32)
	if err != nil {
		return 0, 0, err
	}
	m := uint64(0xffffffff)
	if hasMask {
		if m, err = strconv.ParseUint(mask, 0, 32); err != nil {
			return 0, 0, err
		}
	}
	return uint32(a), uint32(m), nil
}

func markText(v, m uint32) string {
	if m == 0xffffffff {
		return fmt.Sprintf("0x%x", v)
	}
	return fmt.Sprintf("0x%x/0x%x", v, m)
}

// basicBits are the flags of the options that may appear once.
var basicBits = map[string]uint32{
	"-s": mSrc, "--source": mSrc, "-d": mDst, "--destination": mDst,
	"-i": mIn, "--in-interface": mIn, "-o": mOut, "--out-interface": mOut,
	"-p": mProto, "--protocol": mProto,
}

// modelledMatches are the -m modules the parser and evaluator know.
var modelledMatches = map[string]bool{
	"tcp": true, "udp": true, "sctp": true, "multiport": true, "comment": true, "mark": true, "connmark": true,
	"conntrack": true, "state": true, "addrtype": true, "statistic": true, "recent": true,
	"set": true, "physdev": true, "ipvs": true, "nfacct": true,
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// invertible lists the options that take a leading "!".
var invertible = map[string]bool{
	"-s": true, "--source": true, "-d": true, "--destination": true,
	"-i": true, "--in-interface": true, "-o": true, "--out-interface": true,
	"-p": true, "--protocol": true,
	"--dport": true, "--destination-port": true, "--sport": true, "--source-port": true,
	"--dports": true, "--destination-ports": true,
	"--dst-type": true, "--src-type": true, "--mark": true, "--ctstate": true, "--state": true,
	"--match-set": true, "--physdev-is-in": true, "--ipvs": true, "--vaddr": true, "--vport": true, "--vproto": true,
}

// stateNames are the conntrack states in the order print_state prints them.
var stateNames = []struct {
	name string
	bit  uint8
}{
	{"INVALID", StateInvalid}, {"NEW", StateNew}, {"RELATED", StateRelated}, {"ESTABLISHED", StateEstablished},
	{"UNTRACKED", StateUntracked}, {"SNAT", StateSNAT}, {"DNAT", StateDNAT},
}

func stateText(bits uint8) string {
	var out []string
	for _, s := range stateNames {
		if bits&s.bit != 0 {
			out = append(out, s.name)
		}
	}
	return strings.Join(out, ",")
}

// portMatch returns the tcp/udp match that --sport/--dport belong to,
// loading it implicitly from -p as iptables does when no -m tcp/-m udp
// came before.
func (p *ruleParser) portMatch(opt string) (*portOpts, error) {
	if p.ports != nil {
		// An option goes to the match already loaded that knows it.
		return p.ports, nil
	}
	r := p.r
	if r.flags&mProto == 0 || r.inv&mProto != 0 || (r.proto != packet.ProtoTCP && r.proto != packet.ProtoUDP && r.proto != protoSCTP) {
		return nil, p.errf("%s needs -p tcp, -p udp or -p sctp (or -m tcp/-m udp/-m sctp) first", opt)
	}
	p.openPorts(protoName(r.proto))
	return p.ports, nil
}

func (p *ruleParser) openPorts(proto string) {
	r := p.r
	r.matches = append(r.matches, "-m "+proto, "")
	p.ports = &portOpts{at: len(r.matches) - 1, proto: proto}
	p.allPorts = append(p.allPorts, p.ports)
	p.module = proto
}

// need checks that an option's match module was loaded with -m before it
// (iptables: "unknown option"); it returns the module that takes it, the
// current one when it is a candidate.
func (p *ruleParser) need(opt string, mods ...string) (string, error) {
	for _, m := range mods {
		if p.module == m {
			return m, nil
		}
	}
	for i := len(p.loaded) - 1; i >= 0; i-- {
		for _, m := range mods {
			if p.loaded[i] == m {
				return m, nil
			}
		}
	}
	return "", p.errf("%s needs -m %s before it", opt, strings.Join(mods, " or -m "))
}

func (p *ruleParser) parse() error {
	r := p.r
	for p.i < len(p.args) {
		a := p.args[p.i]
		p.i++
		if a == "!" {
			if p.neg {
				return p.errf("\"!\" given twice")
			}
			p.neg = true
			continue
		}
		neg := p.neg
		p.neg = false
		if neg && !invertible[a] {
			return p.errf("\"! %s\": inversion of %s is not modelled by netsim", a, a)
		}
		if bit, ok := basicBits[a]; ok && r.flags&bit != 0 {
			return p.errf("multiple %s flags not allowed", a)
		}
		switch a {
		case "-s", "--source", "-d", "--destination":
			v, err := p.next()
			if err != nil {
				return err
			}
			pf, err := parsePrefix(v)
			if err != nil || !pf.Addr().Is4() {
				return p.errf("%s %q: expected an IPv4 address or CIDR", a, v)
			}
			// print_ip leaves out 0.0.0.0/0 unless inverted.
			text := func(o string) string {
				if pf.Bits() == 0 && !neg {
					return ""
				}
				return bang(neg) + o + " " + pf.String()
			}
			if a == "-s" || a == "--source" {
				r.src, r.flags = pf, r.flags|mSrc
				if neg {
					r.inv |= mSrc
				}
				p.src = text("-s")
			} else {
				r.dst, r.flags = pf, r.flags|mDst
				if neg {
					r.inv |= mDst
				}
				p.dst = text("-d")
			}
		case "-i", "--in-interface", "-o", "--out-interface":
			v, err := p.next()
			if err != nil {
				return err
			}
			if a == "-i" || a == "--in-interface" {
				r.in, r.flags = v, r.flags|mIn
				if neg {
					r.inv |= mIn
				}
				p.in = bang(neg) + "-i " + v
			} else {
				r.out, r.flags = v, r.flags|mOut
				if neg {
					r.inv |= mOut
				}
				p.out = bang(neg) + "-o " + v
			}
		case "-p", "--protocol":
			v, err := p.next()
			if err != nil {
				return err
			}
			n, ok := protoNames[strings.ToLower(v)]
			if !ok {
				x, err := strconv.Atoi(v)
				if err != nil || x < 0 || x > 255 {
					return p.errf("-p %q: expected tcp, udp, icmp, sctp, all or a protocol number", v)
				}
				n = uint8(x)
			}
			if n == 0 && neg {
				return p.errf("\"! -p %s\": rule would never match any protocol", v)
			}
			r.proto, r.flags = n, r.flags|mProto
			if neg {
				r.inv |= mProto
			}
			p.proto = ""
			if n != 0 { // print_proto leaves out -p all
				p.proto = bang(neg) + "-p " + protoName(n)
			}
		case "-m", "--match":
			v, err := p.next()
			if err != nil {
				return err
			}
			if !modelledMatches[v] {
				return p.errf("-m %s: match not modelled by netsim (modelled: %s)", v, strings.Join(sortedKeys(modelledMatches), ", "))
			}
			p.loaded = append(p.loaded, v)
			if v == "tcp" || v == "udp" || v == "sctp" {
				p.openPorts(v)
				continue
			}
			p.module = v
			r.matches = append(r.matches, "-m "+v)
			switch v {
			case "recent":
				p.recentAt = len(r.matches)
				r.matches = append(r.matches, "")
			case "addrtype":
				r.matches = append(r.matches, "")
				p.addr = &addrOpts{at: len(r.matches) - 1}
				p.allAddr = append(p.allAddr, p.addr)
			}
		case "--comment":
			if _, err := p.need(a, "comment"); err != nil {
				return err
			}
			v, err := p.next()
			if err != nil {
				return err
			}
			if len(v) > 255 {
				return p.errf("--comment: at most 255 characters, got %d", len(v))
			}
			r.Comment = v
			r.matches = append(r.matches, "--comment "+quote(v))
		case "--dport", "--destination-port", "--sport", "--source-port":
			v, err := p.next()
			if err != nil {
				return err
			}
			pr, err := parsePortRange(v)
			if err != nil {
				return p.errf("%s %q: expected PORT or PORT:PORT", a, v)
			}
			pm, err := p.portMatch(a)
			if err != nil {
				return err
			}
			if p.portOpt == "" {
				p.portOpt = a
			}
			// tcp_save leaves out the full range 0:65535 (unless inverted).
			text := bang(neg) + "--dport " + portText(pr)
			if pr == [2]uint16{0, 65535} && !neg {
				text = ""
			}
			if a == "--dport" || a == "--destination-port" {
				r.dport, r.flags = pr, r.flags|mDPort
				if neg {
					r.inv |= mDPort
				}
				pm.dport = text
			} else {
				r.sport, r.flags = pr, r.flags|mSPort
				if neg {
					r.inv |= mSPort
				}
				pm.sport = strings.Replace(text, "--dport", "--sport", 1)
			}
		case "--dports", "--destination-ports":
			if _, err := p.need(a, "multiport"); err != nil {
				return err
			}
			v, err := p.next()
			if err != nil {
				return err
			}
			var canon []string
			for _, part := range strings.Split(v, ",") {
				pr, err := parsePortRange(part)
				if err != nil {
					return p.errf("--dports %q: expected PORT[,PORT|,PORT:PORT...]", v)
				}
				r.dports = append(r.dports, pr)
				canon = append(canon, portText(pr))
			}
			if p.portOpt == "" {
				p.portOpt = a
			}
			r.flags |= mDPorts
			if neg {
				r.inv |= mDPorts
			}
			r.matches = append(r.matches, bang(neg)+"--dports "+strings.Join(canon, ","))
		case "--dst-type", "--src-type":
			if _, err := p.need(a, "addrtype"); err != nil {
				return err
			}
			v, err := p.next()
			if err != nil {
				return err
			}
			var t uint8
			switch v {
			case "LOCAL":
				t = AddrLocal
			case "UNICAST":
				t = AddrUnicast
			case "BROADCAST":
				t = AddrBroadcast
			case "MULTICAST":
				t = AddrMulticast
			default:
				return p.errf("%s %q: expected LOCAL, UNICAST, BROADCAST or MULTICAST", a, v)
			}
			ao := p.addr
			if a == "--dst-type" {
				r.dstType, r.flags = t, r.flags|mDstType
				if neg {
					r.inv |= mDstType
				}
				ao.dst = bang(neg) + a + " " + v
			} else {
				r.srcType, r.flags = t, r.flags|mSrcType
				if neg {
					r.inv |= mSrcType
				}
				ao.src = bang(neg) + a + " " + v
			}
		case "--limit-iface-in":
			if _, err := p.need(a, "addrtype"); err != nil {
				return err
			}
			r.limitIfaceIn = true
			p.addr.limit = a
		case "--mark":
			mod, err := p.need(a, "mark", "connmark")
			if err != nil {
				return err
			}
			v, err := p.next()
			if err != nil {
				return err
			}
			val, mask, err := parseMark(v)
			if err != nil {
				return p.errf("--mark %q: expected VALUE[/MASK]", v)
			}
			if mod == "connmark" {
				r.ctMarkVal, r.ctMarkMask, r.flags = val, mask, r.flags|mCTMark
				if neg {
					r.inv |= mCTMark
				}
			} else {
				r.markVal, r.markMask, r.flags = val, mask, r.flags|mMark
				if neg {
					r.inv |= mMark
				}
			}
			r.matches = append(r.matches, bang(neg)+"--mark "+markText(val, mask))
		case "--ctstate", "--state":
			mod := "conntrack"
			if a == "--state" {
				mod = "state"
			}
			if _, err := p.need(a, mod); err != nil {
				return err
			}
			v, err := p.next()
			if err != nil {
				return err
			}
			var bits uint8
			for _, s := range strings.Split(v, ",") {
				found := false
				for _, sn := range stateNames {
					if strings.EqualFold(s, sn.name) && (a == "--ctstate" || sn.bit&(StateSNAT|StateDNAT) == 0) {
						bits |= sn.bit
						found = true
					}
				}
				if !found {
					return p.errf("%s %q: unknown state %q", a, v, s)
				}
			}
			r.ctState |= bits
			r.flags |= mCTState
			if neg {
				r.inv |= mCTState
			}
			// print_state lists the states in a fixed order.
			r.matches = append(r.matches, bang(neg)+a+" "+stateText(bits))
		case "--mode":
			if _, err := p.need(a, "statistic"); err != nil {
				return err
			}
			v, err := p.next()
			if err != nil {
				return err
			}
			if v != "random" {
				return p.errf("--mode %q: only random is modelled", v)
			}
			r.matches = append(r.matches, "--mode random")
		case "--probability":
			if _, err := p.need(a, "statistic"); err != nil {
				return err
			}
			v, err := p.next()
			if err != nil {
				return err
			}
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 1 {
				return p.errf("--probability %q: expected a number between 0 and 1", v)
			}
			// xt_statistic keeps the probability as a 31-bit fraction and
			// iptables-save prints it back with %.11f.
			r.probRaw = uint32(math.Round(f * 0x80000000))
			r.probability = float64(r.probRaw) / 0x80000000
			r.flags |= mProb
			r.matches = append(r.matches, "--probability "+fmt.Sprintf("%.11f", float64(r.probRaw)/2147483648.0))
		case "--name", "--set", "--rcheck", "--update", "--seconds", "--reap", "--rsource", "--rdest", "--mask":
			if err := p.recentOpt(a); err != nil {
				return err
			}
		case "-j", "--jump", "-g", "--goto":
			v, err := p.next()
			if err != nil {
				return err
			}
			if err := p.targetSpec(a, v); err != nil {
				return err
			}
		default:
			if ok, err := p.extOpt(a, neg); ok {
				if err != nil {
					return err
				}
				continue
			}
			return p.errf("option %q is not modelled by netsim", a)
		}
	}
	if p.neg {
		return p.errf("\"!\" at the end of the rule: expected an option after it")
	}
	if r.recent != nil {
		if p.recentAt == 0 {
			return p.errf("recent options need -m recent")
		}
		r.matches[p.recentAt] = r.recent.save()
	}
	for _, pm := range p.allPorts {
		// The kernel loads -m tcp/-m udp only for rules of that protocol.
		if r.flags&mProto == 0 || r.inv&mProto != 0 || protoName(r.proto) != pm.proto {
			return p.errf("-m %s needs -p %s", pm.proto, pm.proto)
		}
		var parts []string
		for _, s := range []string{pm.sport, pm.dport} {
			if s != "" {
				parts = append(parts, s)
			}
		}
		r.matches[pm.at] = strings.Join(parts, " ")
	}
	if r.flags&mDPorts != 0 && (r.flags&mProto == 0 || r.inv&mProto != 0 || (r.proto != packet.ProtoTCP && r.proto != packet.ProtoUDP && r.proto != protoSCTP)) {
		// xt_multiport: tcp, udp, udplite, dccp and sctp (the ports
		// sit at the same offsets); netsim models tcp, udp and sctp.
		return p.errf("--dports needs -p tcp, -p udp or -p sctp")
	}
	for _, ao := range p.allAddr {
		var parts []string
		for _, s := range []string{ao.src, ao.dst, ao.limit} {
			if s != "" {
				parts = append(parts, s)
			}
		}
		r.matches[ao.at] = strings.Join(parts, " ")
	}
	var basic []string
	for _, s := range []string{p.src, p.dst, p.in, p.out, p.proto} {
		if s != "" {
			basic = append(basic, s)
		}
	}
	r.basic = basic
	p.finishExt()
	return nil
}

func (p *ruleParser) recentOpt(a string) error {
	r := p.r
	if r.recent == nil {
		r.recent = &recentMatch{name: "DEFAULT", mask: "255.255.255.255", rsource: true}
		r.flags |= mRecent
	}
	rc := r.recent
	switch a {
	case "--name":
		v, err := p.next()
		if err != nil {
			return err
		}
		rc.name = v
	case "--mask":
		v, err := p.next()
		if err != nil {
			return err
		}
		m, err := netip.ParseAddr(v)
		if err != nil || !m.Is4() {
			return p.errf("--mask %q: expected an IPv4 netmask", v)
		}
		rc.mask = m.String()
	case "--rsource":
		rc.rsource = true
	case "--rdest":
		rc.rsource = false
	case "--set":
		rc.set = true
	case "--rcheck":
		rc.rcheck = true
	case "--update":
		rc.update = true
	case "--reap":
		rc.reap = true
	case "--seconds":
		v, err := p.next()
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return p.errf("--seconds %q: expected a number of seconds", v)
		}
		rc.seconds = time.Duration(n) * time.Second
	}
	return nil
}

// parseToPorts parses MASQUERADE's PORT[-PORT] (1-65535); PORT:PORT is
// taken too and printed with a dash.
func parseToPorts(v string) ([2]uint16, error) {
	sep := "-"
	if !strings.Contains(v, "-") {
		sep = ":"
	}
	lo, hi, rng := strings.Cut(v, sep)
	a, err := strconv.ParseUint(lo, 10, 16)
	if err != nil || a == 0 {
		return [2]uint16{}, fmt.Errorf("bad port %q", lo)
	}
	b := a
	if rng {
		if b, err = strconv.ParseUint(hi, 10, 16); err != nil || b < a {
			return [2]uint16{}, fmt.Errorf("bad port range %q", v)
		}
	}
	return [2]uint16{uint16(a), uint16(b)}, nil
}

// rejectTypes maps --reject-with values and their short aliases to the
// canonical name REJECT_save prints.
var rejectTypes = map[string]string{
	"icmp-net-unreachable": "icmp-net-unreachable", "net-unreach": "icmp-net-unreachable",
	"icmp-host-unreachable": "icmp-host-unreachable", "host-unreach": "icmp-host-unreachable",
	"icmp-proto-unreachable": "icmp-proto-unreachable", "proto-unreach": "icmp-proto-unreachable",
	"icmp-port-unreachable": "icmp-port-unreachable", "port-unreach": "icmp-port-unreachable",
	"icmp-net-prohibited": "icmp-net-prohibited", "net-prohib": "icmp-net-prohibited",
	"icmp-host-prohibited": "icmp-host-prohibited", "host-prohib": "icmp-host-prohibited",
	"icmp-admin-prohibited": "icmp-admin-prohibited", "admin-prohib": "icmp-admin-prohibited",
	"tcp-reset": "tcp-reset", "tcp-rst": "tcp-reset",
}

// portsOK reports whether the rule's protocol allows a NAT port
// (iptables: "Need TCP, UDP, SCTP or DCCP with port specification").
func (r *Rule) portsOK() bool {
	if r.flags&mProto == 0 || r.inv&mProto != 0 {
		return false
	}
	switch r.proto {
	case packet.ProtoTCP, packet.ProtoUDP, 132, 33:
		return true
	}
	return false
}

func (p *ruleParser) targetSpec(opt, t string) error {
	r := p.r
	jump := "-j "
	if opt == "-g" || opt == "--goto" {
		jump = "-g "
	}
	parts := []string{jump + t}
	switch t {
	case "ACCEPT":
		r.Target = TAccept
	case "DROP":
		r.Target = TDrop
	case "RETURN":
		r.Target = TReturn
	case "MARK", "CONNMARK":
		r.Target = TMark
		if t == "CONNMARK" {
			r.Target = TConnmark
		}
		for p.i < len(p.args) {
			o := p.args[p.i]
			if o != "--set-xmark" && o != "--set-mark" && o != "--or-mark" && o != "--xor-mark" && o != "--and-mark" {
				break
			}
			p.i++
			v, err := p.next()
			if err != nil {
				return err
			}
			val, mask, err := parseMark(v)
			if err != nil {
				return p.errf("%s %q: expected VALUE[/MASK]", o, v)
			}
			// iptables-save prints every MARK operation as --set-xmark.
			switch o {
			case "--set-mark":
				r.markSetVal, r.markSetMask = val, mask|val
				if !strings.Contains(v, "/") {
					r.markSetMask = 0xffffffff
				}
			case "--set-xmark":
				r.markSetVal, r.markSetMask = val, mask
			case "--or-mark":
				r.markSetVal, r.markSetMask = val, val
			case "--xor-mark":
				r.markSetVal, r.markSetMask = val, 0
			case "--and-mark":
				r.markSetVal, r.markSetMask = 0, ^val
			}
			r.markOp = "--set-xmark"
			parts = append(parts[:1], fmt.Sprintf("--set-xmark 0x%x/0x%x", r.markSetVal, r.markSetMask))
		}
		if len(parts) == 1 {
			return p.errf("-j %s needs --set-xmark, --set-mark, --or-mark, --and-mark or --xor-mark", t)
		}
	case "MASQUERADE":
		r.Target = TMasquerade
	opts:
		for p.i < len(p.args) {
			o := p.args[p.i]
			switch o {
			case "--random-fully":
				p.i++
				r.randomFully = true
			case "--random":
				p.i++
				r.random = true
			case "--to-ports":
				p.i++
				v, err := p.next()
				if err != nil {
					return err
				}
				pr, err := parseToPorts(v)
				if err != nil {
					return p.errf("--to-ports %q: expected PORT[-PORT]", v)
				}
				if !r.portsOK() {
					return p.errf("--to-ports needs -p tcp or -p udp before -j MASQUERADE")
				}
				r.toPorts = pr
			default:
				break opts
			}
		}
		// MASQUERADE_save: --to-ports, --random, --random-fully.
		if r.toPorts[0] != 0 {
			ps := strconv.Itoa(int(r.toPorts[0]))
			if r.toPorts[1] != r.toPorts[0] {
				ps += "-" + strconv.Itoa(int(r.toPorts[1]))
			}
			parts = append(parts, "--to-ports "+ps)
		}
		if r.random {
			parts = append(parts, "--random")
		}
		if r.randomFully {
			parts = append(parts, "--random-fully")
		}
	case "SNAT", "DNAT":
		r.Target = TDNAT
		optName := "--to-destination"
		if t == "SNAT" {
			r.Target = TSNAT
			optName = "--to-source"
		}
		persistent := false
	natOpts:
		for p.i < len(p.args) {
			o := p.args[p.i]
			switch {
			case o == "--random":
				r.random = true
			case o == "--random-fully" && t == "SNAT":
				r.randomFully = true
			case o == "--persistent":
				persistent = true
			case o == optName || o == "--to":
				p.i++
				v, err := p.next()
				if err != nil {
					return err
				}
				if r.natTo.IsValid() {
					return p.errf("-j %s: %s given twice (several ranges are not modelled)", t, optName)
				}
				ap, err := netip.ParseAddrPort(v)
				if err == nil && ap.Port() == 0 {
					err = fmt.Errorf("port 0")
				}
				if err != nil {
					a, err2 := netip.ParseAddr(v)
					if err2 != nil || !a.Is4() {
						return p.errf("%s %q: expected IP or IP:PORT", o, v)
					}
					ap = netip.AddrPortFrom(a, 0)
				} else if !r.portsOK() {
					return p.errf("%s %q: a port needs -p tcp or -p udp before -j %s", o, v, t)
				}
				r.natTo = ap
				continue
			default:
				break natOpts
			}
			p.i++
		}
		if !r.natTo.IsValid() {
			return p.errf("-j %s needs %s", t, optName)
		}
		// DNAT_save / SNAT_save: the range, then --random, --random-fully
		// and --persistent.
		to := r.natTo.Addr().String()
		if r.natTo.Port() != 0 {
			to = r.natTo.String()
		}
		parts = append(parts, optName+" "+to)
		if r.random {
			parts = append(parts, "--random")
		}
		if r.randomFully {
			parts = append(parts, "--random-fully")
		}
		if persistent {
			parts = append(parts, "--persistent")
		}
	case "REJECT":
		r.Target = TReject
		r.rejectWith = "icmp-port-unreachable"
		if p.i < len(p.args) && p.args[p.i] == "--reject-with" {
			p.i++
			v, err := p.next()
			if err != nil {
				return err
			}
			canon, ok := rejectTypes[v]
			if !ok {
				return p.errf("--reject-with %q: expected icmp-port-unreachable, icmp-host-unreachable, icmp-net-unreachable, icmp-proto-unreachable, icmp-net-prohibited, icmp-host-prohibited, icmp-admin-prohibited or tcp-reset", v)
			}
			if canon == "tcp-reset" && (r.flags&mProto == 0 || r.inv&mProto != 0 || r.proto != packet.ProtoTCP) {
				return p.errf("--reject-with tcp-reset needs -p tcp before -j REJECT")
			}
			r.rejectWith = canon
		}
		parts = append(parts, "--reject-with "+r.rejectWith)
	case "LOG":
		r.Target = TLog
		if p.i < len(p.args) && p.args[p.i] == "--log-prefix" {
			p.i++
			v, err := p.next()
			if err != nil {
				return err
			}
			r.logPrefix = v
			parts = append(parts, "--log-prefix "+quote(v))
		}
	default:
		if strings.HasPrefix(t, "-") || t == "" {
			return p.errf("%s %q: expected a target or chain name", opt, t)
		}
		if jump == "-g " {
			r.Target = TGoto
		} else {
			r.Target = TJump
		}
		r.JumpTo = t
	}
	r.target = strings.Join(parts, " ")
	return nil
}
