package netfilter

import "sync"

// The rule text cache. A cluster's nodes are programmed with the same
// rules (kube-proxy writes the same Service chains on every node, felix
// and flanneld nearly the same), so ParseRule would parse the same line
// once per node: 1.7 s of a 5,000-node build. Parsed rules are kept as
// templates by their text and each rule added to a table is a copy of its
// template: a rule's counters, its bound ipsets and nfacct object, its
// jump target and what callers set on it (Reason, Explain) are the copy's
// own; what the copies share (the printed pieces, the port lists, the
// recent and ipvs options) is never changed after parsing.

// parseCacheMax bounds the templates kept (a memory bound; past it lines
// are parsed every time).
const parseCacheMax = 200_000

var parseCache struct {
	sync.Mutex
	m map[string]*Rule
}

// parseRuleCached is ParseRule through the template cache.
func parseRuleCached(line string) (*Rule, error) {
	parseCache.Lock()
	t := parseCache.m[line]
	parseCache.Unlock()
	if t == nil {
		var err error
		if t, err = ParseRule(line); err != nil {
			return nil, err
		}
		parseCache.Lock()
		if parseCache.m == nil {
			parseCache.m = map[string]*Rule{}
		}
		if len(parseCache.m) < parseCacheMax {
			parseCache.m[line] = t
		}
		parseCache.Unlock()
	}
	return t.clone(), nil
}

// clone copies a template: everything a rule binds or counts is its own.
func (t *Rule) clone() *Rule {
	r := *t
	if t.ext != nil {
		x := *t.ext
		x.sets = make([]*setMatch, len(t.ext.sets))
		for i, m := range t.ext.sets {
			c := *m
			x.sets[i] = &c
		}
		x.nfacctRef = nil
		r.ext = &x
	}
	r.jump = nil
	return &r
}
