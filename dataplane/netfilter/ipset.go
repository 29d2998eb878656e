package netfilter

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"netsim/dataplane/packet"
)

// IP sets (ipset(8)) as kube-proxy's IPVS mode uses them: named sets of
// the types hash:ip, hash:ip,port, hash:ip,port,ip, hash:ip,port,net,
// hash:net and bitmap:port, filled with `ipset add` entries in ipset's own
// syntax and matched by `-m set --match-set NAME dir[,dir[,dir]]`, one
// src/dst flag per dimension as xt_set does (a dimension without a flag is
// dst, as in the kernel's set type kadt functions).
//
// SaveIPSets prints the sets as `ipset save` does: a create line per set
// (in creation order) with the options ipset 6/7 prints, then its members.
// Two departures from a real `ipset save`: members of hash sets are printed
// sorted (the kernel prints them in hash-bucket order), and the
// "bucketsize 12 initval 0x…" options that ipset ≥ 7.11 adds to hash sets
// (initval is random per set) are left out.

// Set types.
const (
	SetHashIP        = "hash:ip"
	SetHashIPPort    = "hash:ip,port"
	SetHashIPPortIP  = "hash:ip,port,ip"
	SetHashIPPortNet = "hash:ip,port,net"
	SetHashNet       = "hash:net"
	SetBitmapPort    = "bitmap:port"
)

var setDims = map[string]int{
	SetHashIP: 1, SetHashIPPort: 2, SetHashIPPortIP: 3, SetHashIPPortNet: 3, SetHashNet: 1, SetBitmapPort: 1,
}

// IPSet is one named set.
type IPSet struct {
	Name string
	Type string
	// Family is "inet" (IPv4 only is modelled).
	Family string
	// HashSize and MaxElem are the hash options (ipset's defaults 1024 and
	// 65536); Range is the bitmap:port range (0-65535 by default).
	HashSize, MaxElem int
	Range             [2]uint16

	entries map[setEntry]struct{}
	// bits lists the prefix lengths present in the net dimension, longest
	// first (hash:net and hash:ip,port,net look a packet up once per
	// length, as the kernel's per-cidr loop does).
	bits []uint8
}

// setEntry is a member. Unused dimensions are zero.
type setEntry struct {
	ip    [4]byte
	proto uint8
	port  uint16
	ip2   [4]byte // ip2 of hash:ip,port,ip; the net of the net types
	bits  uint8   // prefix length of the net dimension
}

var setProtos = map[string]uint8{"tcp": packet.ProtoTCP, "udp": packet.ProtoUDP, "sctp": 132, "udplite": 136, "icmp": packet.ProtoICMP}

func setProtoName(p uint8) string {
	for n, v := range setProtos {
		if v == p {
			return n
		}
	}
	return strconv.Itoa(int(p))
}

// ipsets is the per-namespace set registry.
type ipsets struct {
	byName map[string]*IPSet
	order  []*IPSet
}

func (s *ipsets) get(name string) *IPSet {
	if s.byName == nil {
		return nil
	}
	return s.byName[name]
}

// CreateSet is `ipset create NAME TYPE [OPTIONS] [-exist]`: options are
// "family inet", "hashsize N", "maxelem N", "range LO-HI" (bitmap:port),
// given as separate words. Creating a set that exists with the same type
// is an error unless "-exist" is among the options.
func (nf *Netfilter) CreateSet(name, typ string, opts ...string) error {
	nf.gen++
	if name == "" || len(name) > 31 {
		return fmt.Errorf("ipset %s: create %q: a set name is 1 to 31 characters", nf.NS, name)
	}
	if _, ok := setDims[typ]; !ok {
		return fmt.Errorf("ipset %s: create %s: set type %q is not modelled (modelled: %s)", nf.NS, name, typ,
			strings.Join([]string{SetBitmapPort, SetHashIP, SetHashIPPort, SetHashIPPortIP, SetHashIPPortNet, SetHashNet}, ", "))
	}
	set := &IPSet{Name: name, Type: typ, Family: "inet", HashSize: 1024, MaxElem: 65536, Range: [2]uint16{0, 65535},
		entries: map[setEntry]struct{}{}}
	exist := false
	for i := 0; i < len(opts); i++ {
		o := opts[i]
		val := func() (string, error) {
			if i+1 >= len(opts) {
				return "", fmt.Errorf("ipset %s: create %s: %s needs a value", nf.NS, name, o)
			}
			i++
			return opts[i], nil
		}
		switch o {
		case "-exist", "-!":
			exist = true
		case "family":
			v, err := val()
			if err != nil {
				return err
			}
			if v != "inet" {
				return fmt.Errorf("ipset %s: create %s: family %q: only inet (IPv4) is modelled", nf.NS, name, v)
			}
		case "hashsize", "maxelem":
			v, err := val()
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 || typ == SetBitmapPort {
				return fmt.Errorf("ipset %s: create %s: bad %s %q", nf.NS, name, o, v)
			}
			if o == "hashsize" {
				set.HashSize = n
			} else {
				set.MaxElem = n
			}
		case "range":
			v, err := val()
			if err != nil {
				return err
			}
			lo, hi, ok := strings.Cut(v, "-")
			a, err1 := strconv.ParseUint(lo, 10, 16)
			b, err2 := strconv.ParseUint(hi, 10, 16)
			if !ok || err1 != nil || err2 != nil || typ != SetBitmapPort {
				return fmt.Errorf("ipset %s: create %s: bad range %q", nf.NS, name, v)
			}
			if a > b {
				a, b = b, a
			}
			set.Range = [2]uint16{uint16(a), uint16(b)}
		default:
			return fmt.Errorf("ipset %s: create %s: option %q is not modelled", nf.NS, name, o)
		}
	}
	if old := nf.sets.get(name); old != nil {
		if exist && old.Type == typ {
			return nil
		}
		return fmt.Errorf("ipset %s: create %s: set with the same name already exists", nf.NS, name)
	}
	if nf.sets.byName == nil {
		nf.sets.byName = map[string]*IPSet{}
	}
	nf.sets.byName[name] = set
	nf.sets.order = append(nf.sets.order, set)
	return nil
}

// Set returns a set by name (nil if none).
func (nf *Netfilter) Set(name string) *IPSet {
	nf.gen++ // a handle to mutable state
	return nf.sets.get(name)
}

// Sets returns the sets in creation order.
func (nf *Netfilter) Sets() []*IPSet { return append([]*IPSet(nil), nf.sets.order...) }

func (nf *Netfilter) setFor(op, name string) (*IPSet, error) {
	s := nf.sets.get(name)
	if s == nil {
		return nil, fmt.Errorf("ipset %s: %s %s: the set with the given name does not exist", nf.NS, op, name)
	}
	return s, nil
}

// AddToSet is `ipset add NAME ENTRY [-exist]`.
func (nf *Netfilter) AddToSet(name, entry string, exist ...bool) error {
	nf.gen++
	s, err := nf.setFor("add", name)
	if err != nil {
		return err
	}
	e, err := s.parseEntry(entry)
	if err != nil {
		return fmt.Errorf("ipset %s: add %s %s: %w", nf.NS, name, entry, err)
	}
	if _, ok := s.entries[e]; ok {
		if len(exist) > 0 && exist[0] {
			return nil
		}
		return fmt.Errorf("ipset %s: add %s %s: element is already added", nf.NS, name, entry)
	}
	if s.Type != SetBitmapPort && len(s.entries) >= s.MaxElem {
		return fmt.Errorf("ipset %s: add %s %s: hash is full, cannot add more elements", nf.NS, name, entry)
	}
	s.entries[e] = struct{}{}
	s.noteBits(e)
	return nil
}

// DelFromSet is `ipset del NAME ENTRY`.
func (nf *Netfilter) DelFromSet(name, entry string) error {
	nf.gen++
	s, err := nf.setFor("del", name)
	if err != nil {
		return err
	}
	e, err := s.parseEntry(entry)
	if err != nil {
		return fmt.Errorf("ipset %s: del %s %s: %w", nf.NS, name, entry, err)
	}
	if _, ok := s.entries[e]; !ok {
		return fmt.Errorf("ipset %s: del %s %s: element is missing from the set", nf.NS, name, entry)
	}
	delete(s.entries, e)
	s.recomputeBits()
	return nil
}

// TestSet is `ipset test NAME ENTRY`.
func (nf *Netfilter) TestSet(name, entry string) (bool, error) {
	s, err := nf.setFor("test", name)
	if err != nil {
		return false, err
	}
	e, err := s.parseEntry(entry)
	if err != nil {
		return false, fmt.Errorf("ipset %s: test %s %s: %w", nf.NS, name, entry, err)
	}
	_, ok := s.entries[e]
	return ok, nil
}

// FlushSet is `ipset flush NAME`.
func (nf *Netfilter) FlushSet(name string) error {
	nf.gen++
	s, err := nf.setFor("flush", name)
	if err != nil {
		return err
	}
	s.entries = map[setEntry]struct{}{}
	s.bits = nil
	return nil
}

// DestroySet is `ipset destroy NAME`; a set an iptables rule refers to
// cannot be destroyed.
func (nf *Netfilter) DestroySet(name string) error {
	nf.gen++
	s, err := nf.setFor("destroy", name)
	if err != nil {
		return err
	}
	if nf.setInUse(s) {
		return fmt.Errorf("ipset %s: destroy %s: Set cannot be destroyed: it is in use by a kernel component", nf.NS, name)
	}
	delete(nf.sets.byName, name)
	for i, x := range nf.sets.order {
		if x == s {
			nf.sets.order = append(nf.sets.order[:i], nf.sets.order[i+1:]...)
			break
		}
	}
	return nil
}

// IPSetRestore loads `ipset restore` input: "create NAME TYPE [options]",
// "add NAME ENTRY", "del NAME ENTRY", "flush [NAME]", "destroy NAME";
// "-exist" (or -!) on a line ignores "already exists" errors as
// `ipset -exist restore` does. Blank lines and # comments are skipped.
func (nf *Netfilter) IPSetRestore(text string) error {
	nf.gen++
	for n, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		exist := false
		var args []string
		for _, w := range f[1:] {
			if w == "-exist" || w == "-!" {
				exist = true
				continue
			}
			args = append(args, w)
		}
		var err error
		switch {
		case f[0] == "create" && len(args) >= 2:
			opts := args[2:]
			if exist {
				opts = append(opts, "-exist")
			}
			err = nf.CreateSet(args[0], args[1], opts...)
		case f[0] == "add" && len(args) == 2:
			err = nf.AddToSet(args[0], args[1], exist)
		case f[0] == "del" && len(args) == 2:
			err = nf.DelFromSet(args[0], args[1])
		case f[0] == "flush" && len(args) == 1:
			err = nf.FlushSet(args[0])
		case f[0] == "flush" && len(args) == 0:
			for _, s := range nf.sets.order {
				s.entries, s.bits = map[setEntry]struct{}{}, nil
			}
		case f[0] == "destroy" && len(args) == 1:
			err = nf.DestroySet(args[0])
		default:
			err = fmt.Errorf("cannot parse %q", line)
		}
		if err != nil {
			return fmt.Errorf("ipset restore line %d: %w", n+1, err)
		}
	}
	return nil
}

// SaveIPSets prints every set as `ipset save` does.
func (nf *Netfilter) SaveIPSets() string {
	var b strings.Builder
	for _, s := range nf.sets.order {
		b.WriteString(s.createLine())
		b.WriteByte('\n')
		for _, m := range s.Members() {
			fmt.Fprintf(&b, "add %s %s\n", s.Name, m)
		}
	}
	return b.String()
}

func (s *IPSet) createLine() string {
	if s.Type == SetBitmapPort {
		return fmt.Sprintf("create %s %s range %d-%d", s.Name, s.Type, s.Range[0], s.Range[1])
	}
	return fmt.Sprintf("create %s %s family %s hashsize %d maxelem %d", s.Name, s.Type, s.Family, s.HashSize, s.MaxElem)
}

// Len is the number of members.
func (s *IPSet) Len() int { return len(s.entries) }

// Members returns the members as ipset prints them, sorted (bitmap:port
// numerically, as ipset does; hash sets by address, protocol, port and
// second address).
func (s *IPSet) Members() []string {
	es := make([]setEntry, 0, len(s.entries))
	for e := range s.entries {
		es = append(es, e)
	}
	sort.Slice(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if a.ip != b.ip {
			return string(a.ip[:]) < string(b.ip[:])
		}
		if a.proto != b.proto {
			return a.proto < b.proto
		}
		if a.port != b.port {
			return a.port < b.port
		}
		if a.ip2 != b.ip2 {
			return string(a.ip2[:]) < string(b.ip2[:])
		}
		return a.bits < b.bits
	})
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = s.format(e)
	}
	return out
}

func netText(a [4]byte, bits uint8) string {
	if bits == 32 {
		return netip.AddrFrom4(a).String()
	}
	return netip.PrefixFrom(netip.AddrFrom4(a), int(bits)).String()
}

func (s *IPSet) format(e setEntry) string {
	ip := netip.AddrFrom4(e.ip).String()
	pp := setProtoName(e.proto) + ":" + strconv.Itoa(int(e.port))
	switch s.Type {
	case SetHashIP:
		return ip
	case SetHashIPPort:
		return ip + "," + pp
	case SetHashIPPortIP:
		return ip + "," + pp + "," + netip.AddrFrom4(e.ip2).String()
	case SetHashIPPortNet:
		return ip + "," + pp + "," + netText(e.ip2, e.bits)
	case SetHashNet:
		return netText(e.ip2, e.bits)
	case SetBitmapPort:
		return strconv.Itoa(int(e.port))
	}
	return ""
}

func parseSetAddr(v string) ([4]byte, error) {
	a, err := netip.ParseAddr(v)
	if err != nil || !a.Is4() {
		return [4]byte{}, fmt.Errorf("%q is not an IPv4 address", v)
	}
	return a.As4(), nil
}

func parseSetNet(v string) ([4]byte, uint8, error) {
	if !strings.Contains(v, "/") {
		a, err := parseSetAddr(v)
		return a, 32, err
	}
	p, err := netip.ParsePrefix(v)
	if err != nil || !p.Addr().Is4() || p.Bits() == 0 {
		return [4]byte{}, 0, fmt.Errorf("%q is not an IPv4 network (a zero prefix length cannot be stored)", v)
	}
	p = p.Masked()
	return p.Addr().As4(), uint8(p.Bits()), nil
}

// parseProtoPort parses "[PROTO:]PORT" (tcp when no protocol is given, as
// ipset does).
func parseProtoPort(v string) (uint8, uint16, error) {
	proto, port := "tcp", v
	if p, q, ok := strings.Cut(v, ":"); ok {
		proto, port = strings.ToLower(p), q
	}
	pr, ok := setProtos[proto]
	if !ok {
		return 0, 0, fmt.Errorf("protocol %q is not modelled", proto)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return 0, 0, fmt.Errorf("bad port %q", port)
	}
	return pr, uint16(n), nil
}

func (s *IPSet) parseEntry(v string) (setEntry, error) {
	var e setEntry
	parts := strings.Split(v, ",")
	if len(parts) != setDims[s.Type] {
		return e, fmt.Errorf("a %s entry has %d part(s) separated by commas", s.Type, setDims[s.Type])
	}
	var err error
	switch s.Type {
	case SetHashIP:
		e.ip, err = parseSetAddr(parts[0])
	case SetHashNet:
		e.ip2, e.bits, err = parseSetNet(parts[0])
	case SetBitmapPort:
		_, e.port, err = parseProtoPort(parts[0])
		if err == nil && (e.port < s.Range[0] || e.port > s.Range[1]) {
			err = fmt.Errorf("port %d is outside of the range of the set (%d-%d)", e.port, s.Range[0], s.Range[1])
		}
	default:
		if e.ip, err = parseSetAddr(parts[0]); err != nil {
			break
		}
		if e.proto, e.port, err = parseProtoPort(parts[1]); err != nil {
			break
		}
		switch s.Type {
		case SetHashIPPortIP:
			e.ip2, err = parseSetAddr(parts[2])
		case SetHashIPPortNet:
			e.ip2, e.bits, err = parseSetNet(parts[2])
		}
	}
	return e, err
}

func (s *IPSet) noteBits(e setEntry) {
	if s.Type != SetHashNet && s.Type != SetHashIPPortNet {
		return
	}
	for _, b := range s.bits {
		if b == e.bits {
			return
		}
	}
	s.bits = append(s.bits, e.bits)
	sort.Slice(s.bits, func(i, j int) bool { return s.bits[i] > s.bits[j] })
}

func (s *IPSet) recomputeBits() {
	s.bits = nil
	for e := range s.entries {
		s.noteBits(e)
	}
}

func maskAddr(a [4]byte, bits uint8) [4]byte {
	p, _ := netip.AddrFrom4(a).Prefix(int(bits))
	return p.Addr().As4()
}

// match tests a packet against the set with per-dimension src flags (the
// kadt functions of the set types).
func (s *IPSet) match(ip packet.IPv4, src [3]bool) bool {
	addr := func(d int) [4]byte {
		if src[d] {
			return [4]byte(ip[12:16])
		}
		return [4]byte(ip[16:20])
	}
	// ports: TCP, UDP, SCTP and UDP-Lite carry ports; others match only
	// port 0 of their own protocol (ip_set_get_ip4_port). Non-first
	// fragments match nothing that needs a port.
	portOf := func(d int) (uint8, uint16, bool) {
		pr := ip.Protocol()
		if ip.FragOffset() != 0 {
			return pr, 0, false
		}
		switch pr {
		case packet.ProtoTCP, packet.ProtoUDP, 132, 136:
			l4 := ip[ip.HeaderLen():]
			if len(l4) < 4 {
				return pr, 0, false
			}
			u := packet.UDP(l4)
			if src[d] {
				return pr, u.SrcPort(), true
			}
			return pr, u.DstPort(), true
		case packet.ProtoICMP:
			l4 := ip[ip.HeaderLen():]
			if len(l4) < 2 {
				return pr, 0, false
			}
			return pr, uint16(l4[0])<<8 | uint16(l4[1]), true
		}
		return pr, 0, true
	}
	switch s.Type {
	case SetHashIP:
		_, ok := s.entries[setEntry{ip: addr(0)}]
		return ok
	case SetHashNet:
		a := addr(0)
		for _, b := range s.bits {
			if _, ok := s.entries[setEntry{ip2: maskAddr(a, b), bits: b}]; ok {
				return true
			}
		}
		return false
	case SetBitmapPort:
		pr, port, ok := portOf(0)
		if !ok || (pr != packet.ProtoTCP && pr != packet.ProtoUDP && pr != 132 && pr != 136) {
			return false
		}
		_, in := s.entries[setEntry{port: port}]
		return in
	}
	pr, port, ok := portOf(1)
	if !ok {
		return false
	}
	e := setEntry{ip: addr(0), proto: pr, port: port}
	switch s.Type {
	case SetHashIPPort:
		_, in := s.entries[e]
		return in
	case SetHashIPPortIP:
		e.ip2 = addr(2)
		_, in := s.entries[e]
		return in
	case SetHashIPPortNet:
		a := addr(2)
		for _, b := range s.bits {
			e.ip2, e.bits = maskAddr(a, b), b
			if _, in := s.entries[e]; in {
				return true
			}
		}
	}
	return false
}
