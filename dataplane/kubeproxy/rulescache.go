package kubeproxy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// RulesCache renders the iptables proxier's rules for the nodes of one
// cluster, once for every group of nodes that see the Services alike.
// IPTables reads a node's Config for three things only: which endpoints
// run on the node (endpoint.local, from NodeName), the node's primary
// address (when a LoadBalancer has source ranges) and the NodePort
// addresses taken from NodeIPs (when --nodeport-addresses is set). The
// cache key is the Config with NodeName replaced by the positions of the
// node's endpoints and NodeIPs kept only where it is read, so two nodes
// share their Rules exactly when IPTables would write the same ones for
// both. At 5,000 nodes of a cluster whose endpoints sit on a few of them,
// that is a handful of renderings instead of 5,000.
//
// The Rules returned are shared: their slices are read-only (they are
// clipped, so an append copies).
type RulesCache struct {
	svcs []*Service
	// local maps a node name to the positions (in servicePorts' walk over
	// the Services, their ports and endpoints) of the endpoints on it.
	local map[string][]int
	// nodeIP says some Service's source ranges make the node's primary
	// address matter.
	nodeIP bool
	rules  map[string]cachedRules
}

type cachedRules struct {
	r   Rules
	err error
}

// NewRulesCache returns a cache for the Services svcs (which must not
// change while it is used).
func NewRulesCache(svcs []*Service) *RulesCache {
	c := &RulesCache{svcs: svcs, local: map[string][]int{}, rules: map[string]cachedRules{}}
	i := 0
	for _, s := range svcs {
		if s == nil {
			continue
		}
		if len(s.SourceRanges) > 0 {
			c.nodeIP = true
		}
		for _, p := range s.Ports {
			for _, e := range s.Endpoints[p.Name] {
				if e.NodeName != "" {
					c.local[e.NodeName] = append(c.local[e.NodeName], i)
				}
				i++
			}
		}
	}
	return c
}

// IPTables is IPTables(cfg, svcs), shared with the nodes of the same key.
func (c *RulesCache) IPTables(cfg Config) (Rules, error) {
	key := c.key(cfg)
	if e, ok := c.rules[key]; ok {
		return e.r, e.err
	}
	r, err := IPTables(cfg, c.svcs)
	r = clipRules(r)
	c.rules[key] = cachedRules{r, err}
	return r, err
}

// key is cfg as IPTables reads it.
func (c *RulesCache) key(cfg Config) string {
	var b strings.Builder
	for _, i := range c.local[cfg.NodeName] {
		b.WriteString(strconv.Itoa(i))
		b.WriteByte(',')
	}
	b.WriteByte('|')
	if c.nodeIP {
		b.WriteString(cfg.nodeIP().String())
	}
	b.WriteByte('|')
	if len(cfg.NodePortAddresses) > 0 {
		for _, a := range nodePortIPs(cfg) {
			b.WriteString(a.String())
			b.WriteByte(',')
		}
	}
	cfg.NodeName, cfg.NodeIPs = "", nil
	fmt.Fprintf(&b, "|%#v", cfg)
	return b.String()
}

func clipRules(r Rules) Rules {
	r.FilterChains, r.FilterRules = slices.Clip(r.FilterChains), slices.Clip(r.FilterRules)
	r.NATChains, r.NATRules = slices.Clip(r.NATChains), slices.Clip(r.NATRules)
	r.Jumps, r.Canary, r.NFAcct = slices.Clip(r.Jumps), slices.Clip(r.Canary), slices.Clip(r.NFAcct)
	return r
}
