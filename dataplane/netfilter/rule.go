package netfilter

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// A Rule is one iptables rule. Rules are written in iptables syntax (what
// kube-proxy and flanneld feed to iptables-restore) and printed back in
// iptables-save's canonical order: -s -d -i -o -p first, then the -m
// matches in the order given, then -j and the target's options.

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

	Target      TargetKind
	JumpTo      string
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
	r := strings.NewReplacer(`"`, `\"`, `\`, `\\`, `'`, `\'`)
	return `"` + r.Replace(v) + `"`
}

var protoNames = map[string]uint8{"tcp": 6, "udp": 17, "icmp": 1, "sctp": 132, "all": 0}

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

func parsePortRange(v string) ([2]uint16, error) {
	lo, hi, rng := strings.Cut(v, ":")
	a, err := strconv.ParseUint(lo, 10, 16)
	if err != nil {
		return [2]uint16{}, err
	}
	b := a
	if rng {
		if b, err = strconv.ParseUint(hi, 10, 16); err != nil {
			return [2]uint16{}, err
		}
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

func (p *ruleParser) parse() error {
	r := p.r
	for p.i < len(p.args) {
		a := p.args[p.i]
		p.i++
		if a == "!" {
			p.neg = true
			continue
		}
		neg := p.neg
		p.neg = false
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
			if a == "-s" || a == "--source" {
				r.src, r.flags = pf, r.flags|mSrc
				if neg {
					r.inv |= mSrc
				}
				p.src = bang(neg) + "-s " + pf.String()
			} else {
				r.dst, r.flags = pf, r.flags|mDst
				if neg {
					r.inv |= mDst
				}
				p.dst = bang(neg) + "-d " + pf.String()
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
					return p.errf("-p %q: expected tcp, udp, icmp, sctp or a protocol number", v)
				}
				n = uint8(x)
			}
			r.proto, r.flags = n, r.flags|mProto
			if neg {
				r.inv |= mProto
			}
			p.proto = bang(neg) + "-p " + protoName(n)
		case "-m", "--match":
			v, err := p.next()
			if err != nil {
				return err
			}
			p.module = v
			r.matches = append(r.matches, "-m "+v)
			if v == "recent" {
				p.recentAt = len(r.matches)
				r.matches = append(r.matches, "")
			}
		case "--comment":
			v, err := p.next()
			if err != nil {
				return err
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
				return p.errf("%s %q: expected a port or PORT:PORT", a, v)
			}
			if r.flags&mProto == 0 {
				return p.errf("%s needs -p tcp or -p udp first", a)
			}
			if p.module != "tcp" && p.module != "udp" {
				// iptables loads the protocol match implicitly.
				r.matches = append(r.matches, "-m "+protoName(r.proto))
				p.module = protoName(r.proto)
			}
			if a == "--dport" || a == "--destination-port" {
				r.dport, r.flags = pr, r.flags|mDPort
				if neg {
					r.inv |= mDPort
				}
				r.matches = append(r.matches, bang(neg)+"--dport "+portText(pr))
			} else {
				r.sport, r.flags = pr, r.flags|mSPort
				if neg {
					r.inv |= mSPort
				}
				r.matches = append(r.matches, bang(neg)+"--sport "+portText(pr))
			}
		case "--dports", "--destination-ports":
			v, err := p.next()
			if err != nil {
				return err
			}
			for _, part := range strings.Split(v, ",") {
				pr, err := parsePortRange(part)
				if err != nil {
					return p.errf("--dports %q: expected PORT[,PORT...]", v)
				}
				r.dports = append(r.dports, pr)
			}
			r.flags |= mDPorts
			if neg {
				r.inv |= mDPorts
			}
			r.matches = append(r.matches, bang(neg)+"--dports "+v)
		case "--dst-type", "--src-type":
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
			if a == "--dst-type" {
				r.dstType, r.flags = t, r.flags|mDstType
				if neg {
					r.inv |= mDstType
				}
			} else {
				r.srcType, r.flags = t, r.flags|mSrcType
				if neg {
					r.inv |= mSrcType
				}
			}
			r.matches = append(r.matches, bang(neg)+a+" "+v)
		case "--limit-iface-in":
			r.limitIfaceIn = true
			r.matches = append(r.matches, a)
		case "--mark":
			v, err := p.next()
			if err != nil {
				return err
			}
			val, mask, err := parseMark(v)
			if err != nil {
				return p.errf("--mark %q: expected VALUE[/MASK]", v)
			}
			if p.module == "connmark" {
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
			v, err := p.next()
			if err != nil {
				return err
			}
			for _, s := range strings.Split(v, ",") {
				switch s {
				case "NEW":
					r.ctState |= StateNew
				case "ESTABLISHED":
					r.ctState |= StateEstablished
				case "RELATED":
					r.ctState |= StateRelated
				case "INVALID":
					r.ctState |= StateInvalid
				case "UNTRACKED":
					r.ctState |= StateUntracked
				case "DNAT":
					r.ctState |= StateDNAT
				case "SNAT":
					r.ctState |= StateSNAT
				default:
					return p.errf("%s %q: unknown state %q", a, v, s)
				}
			}
			r.flags |= mCTState
			if neg {
				r.inv |= mCTState
			}
			r.matches = append(r.matches, bang(neg)+a+" "+v)
		case "--mode":
			v, err := p.next()
			if err != nil {
				return err
			}
			if v != "random" {
				return p.errf("--mode %q: only random is modelled", v)
			}
			r.matches = append(r.matches, "--mode random")
		case "--probability":
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
		case "--name", "--set", "--rcheck", "--update", "--seconds", "--reap", "--rsource", "--mask":
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
			return p.errf("option %q is not modelled by netsim", a)
		}
	}
	if r.recent != nil {
		if p.recentAt == 0 {
			return p.errf("recent options need -m recent")
		}
		r.matches[p.recentAt] = r.recent.save()
	}
	var basic []string
	for _, s := range []string{p.src, p.dst, p.in, p.out, p.proto} {
		if s != "" {
			basic = append(basic, s)
		}
	}
	r.basic = basic
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
		rc.mask = v
	case "--rsource":
		rc.rsource = true
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
			parts = append(parts, fmt.Sprintf("--set-xmark 0x%x/0x%x", r.markSetVal, r.markSetMask))
		}
	case "MASQUERADE":
		r.Target = TMasquerade
		for p.i < len(p.args) {
			o := p.args[p.i]
			switch o {
			case "--random-fully":
				p.i++
				r.randomFully = true
				parts = append(parts, o)
				continue
			case "--random":
				p.i++
				r.random = true
				parts = append(parts, o)
				continue
			case "--to-ports":
				p.i++
				v, err := p.next()
				if err != nil {
					return err
				}
				pr, err := parsePortRange(strings.ReplaceAll(v, "-", ":"))
				if err != nil {
					return p.errf("--to-ports %q: expected PORT[-PORT]", v)
				}
				r.toPorts = pr
				parts = append(parts, "--to-ports "+v)
				continue
			}
			break
		}
	case "SNAT", "DNAT":
		r.Target = TDNAT
		if t == "SNAT" {
			r.Target = TSNAT
		}
		for p.i < len(p.args) {
			o := p.args[p.i]
			if o == "--random-fully" || o == "--random" || o == "--persistent" {
				p.i++
				r.randomFully = r.randomFully || o == "--random-fully"
				parts = append(parts, o)
				continue
			}
			if o != "--to-destination" && o != "--to-source" && o != "--to" {
				break
			}
			p.i++
			v, err := p.next()
			if err != nil {
				return err
			}
			ap, err := netip.ParseAddrPort(v)
			if err != nil {
				a, err2 := netip.ParseAddr(v)
				if err2 != nil {
					return p.errf("%s %q: expected IP or IP:PORT", o, v)
				}
				ap = netip.AddrPortFrom(a, 0)
			}
			r.natTo = ap
			parts = append(parts, o+" "+v)
		}
		if !r.natTo.IsValid() {
			return p.errf("-j %s needs --to-%s", t, map[bool]string{true: "source", false: "destination"}[t == "SNAT"])
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
			switch v {
			case "icmp-port-unreachable", "icmp-host-unreachable", "icmp-net-unreachable", "icmp-proto-unreachable",
				"icmp-admin-prohibited", "icmp-host-prohibited", "icmp-net-prohibited", "tcp-reset":
			default:
				return p.errf("--reject-with %q is not modelled", v)
			}
			r.rejectWith = v
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
