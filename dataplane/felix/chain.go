package felix

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"

	"netsim/dataplane/trace"
)

// rule is one felix rule before rendering: its match fragments and its
// action, in the spelling felix's iptables renderer uses (felix/iptables
// match_builder.go, actions.go), so that the "cali:<hash>" comment is
// computed from the same text felix hashes.
type rule struct {
	match    []string
	comments []string
	action   string
	// reason and explain are set on the drop rules that mean "policy
	// denied" (the end of a tier); explain says which policy and why.
	reason  trace.Reason
	explain func(ip []byte) string
}

// chain is one felix chain.
type chain struct {
	name  string
	rules []rule
}

func (c *chain) add(r rule) { c.rules = append(c.rules, r) }

// hashLength is felix's rule hash length (generictables.HashLength).
const hashLength = 16

// body is the rule's text after the hash comment: its extra comments,
// matches and action, joined as felix's renderInner joins them.
func (r *rule) body() string {
	var parts []string
	for _, c := range r.comments {
		parts = append(parts, fmt.Sprintf("-m comment --comment %q", escapeComment(c)))
	}
	parts = append(parts, r.match...)
	if r.action != "" {
		parts = append(parts, r.action)
	}
	return strings.Join(parts, " ")
}

// hashes are felix's rule hashes of the chain (generictables.RuleHashes):
// SHA-224 of the chain name, then for each rule SHA-224 of the previous
// hash and the rule rendered with "HASH" in place of the comment,
// base64url, first 16 characters. A rule's hash depends on its position
// and on every rule before it.
func (c *chain) hashes() []string {
	sum := sha256.Sum224([]byte(c.name))
	prev := sum[:]
	out := make([]string, len(c.rules))
	for i := range c.rules {
		s := sha256.New224()
		s.Write(prev)
		text := "-A " + c.name + " HASH"
		if b := c.rules[i].body(); b != "" {
			text += " " + b
		}
		s.Write([]byte(text))
		prev = s.Sum(nil)
		out[i] = base64.RawURLEncoding.EncodeToString(prev)[:hashLength]
	}
	return out
}

// lines renders the chain's rules as iptables-restore "-A" lines.
func (c *chain) lines() []string {
	hs := c.hashes()
	out := make([]string, len(c.rules))
	for i := range c.rules {
		l := fmt.Sprintf("-A %s -m comment --comment \"cali:%s\"", c.name, hs[i])
		if b := c.rules[i].body(); b != "" {
			l += " " + b
		}
		out[i] = l
	}
	return out
}

// escapeComment replaces what felix's escapeComment replaces (anything
// but shell-safe characters) with "_", and truncates to iptables' 256.
func escapeComment(s string) string {
	b := []byte(s)
	for i, ch := range b {
		safe := ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' ||
			strings.IndexByte(" .,:;_/=+@%^*()[]{}-", ch) >= 0
		if !safe {
			b[i] = '_'
		}
	}
	if len(b) > 256 {
		b = b[:256]
	}
	return string(b)
}

// Match and action fragments, as felix renders them.
func markClear(m uint32) string { return fmt.Sprintf("-m mark --mark 0/%#x", m) }
func markSet(m uint32) string   { return fmt.Sprintf("-m mark --mark %#x/%#x", m, m) }
func setMark(m uint32) string   { return fmt.Sprintf("--jump MARK --set-mark %#x/%#x", m, m) }
func clearMark(m uint32) string { return fmt.Sprintf("--jump MARK --set-mark 0/%#x", m) }
func jump(c string) string      { return "--jump " + c }
func gotoChain(c string) string { return "--goto " + c }
func inIface(i string) string   { return "--in-interface " + i }
func outIface(i string) string  { return "--out-interface " + i }
func ctState(s string) string   { return "-m conntrack --ctstate " + s }
func maskedMark(v, m uint32) string {
	return fmt.Sprintf("--jump MARK --set-mark %#x/%#x", v, m)
}

const (
	actAccept = "--jump ACCEPT"
	actDrop   = "--jump DROP"
	actReturn = "--jump RETURN"
)

// lengthLimited is libcalico-go's hash.GetLengthLimitedID: prefix+suffix
// when it fits in maxLen (and does not end up exactly maxLen starting
// with "_"), else prefix + "_" + base64url(sha256(suffix)) cut to fit.
func lengthLimited(prefix, suffix string, maxLen int) string {
	if suffix == "" {
		suffix = "_"
	}
	total := len(prefix) + len(suffix)
	if total > maxLen || total == maxLen && suffix[0] == '_' {
		h := sha256.Sum256([]byte(suffix))
		enc := base64.RawURLEncoding.EncodeToString(h[:])
		return prefix + "_" + enc[:maxLen-1-len(prefix)]
	}
	return prefix + suffix
}

// maxChainName is iptables' chain name limit as felix applies it.
const maxChainName = 28

// uniqueID is libcalico-go's hash.MakeUniqueID: prefix ":"
// base64url(sha224(prefix ":" content)).
func uniqueID(prefix, content string) string {
	h := sha256.Sum224([]byte(prefix + ":" + content))
	return prefix + ":" + base64.RawURLEncoding.EncodeToString(h[:])
}

// setName is felix's NameForMainIPSet for IPv4: "cali40" + the set ID,
// truncated to ipset's 31 characters.
func setName(id string) string {
	n := "cali40" + id
	if len(n) > 31 {
		n = n[:31]
	}
	return n
}
