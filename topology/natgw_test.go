package topology

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link/linktest"
)

// natScenario is baseScenario with a NAT gateway, an EIP and an Internet client.
func natScenario() *Scenario {
	s := baseScenario()
	s.Failures = nil
	s.Internet = &Internet{}
	s.VPC.NATGateways = []NATGateway{{Name: "ngw", VSwitch: "vsw-a", EIPs: []string{"192.0.2.10"},
		SNAT: []SNATEntry{{VSwitch: "vsw-a", EIP: "192.0.2.10"}, {Instance: "node-2", EIP: "192.0.2.10"}}}}
	s.VPC.EIPs = []EIP{{IP: "192.0.2.50", Instance: "ecs-1"}}
	s.Flows = append(s.Flows, Flow{Name: "out", From: "pod/web-1", To: "internet"})
	return s
}

func TestValidateNAT(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(s *Scenario)
		path   string // "" for valid
		msg    string
	}{
		{"valid", func(*Scenario) {}, "", ""},
		{"l2 underlay", func(s *Scenario) {
			s.VPC.Underlay = "l2"
			s.VPC.VSwitches = s.VPC.VSwitches[:1]
		}, "vpc.natGateways", "an l2 underlay has no Internet edge"},
		{"no EIPs", func(s *Scenario) { s.VPC.NATGateways[0].EIPs = nil }, "vpc.natGateways[0].eips", "at least one EIP"},
		{"the Internet client's address", func(s *Scenario) { s.VPC.EIPs[0].IP = "203.0.113.10" }, "vpc.eips[0].ip", "the Internet client's address"},
		{"a loopback EIP", func(s *Scenario) { s.VPC.EIPs[0].IP = "127.0.0.2" }, "vpc.eips[0].ip", "a loopback address"},
		{"bad name", func(s *Scenario) { s.VPC.NATGateways[0].Name = "NGW" }, "vpc.natGateways[0].name", "not a valid name"},
		{"no source", func(s *Scenario) { s.VPC.NATGateways[0].SNAT[0].VSwitch = "" }, "vpc.natGateways[0].snat[0]", "exactly one source"},
		{"an instance twice", func(s *Scenario) { s.VPC.NATGateways[0].SNAT[0] = SNATEntry{Instance: "node-2", EIP: "192.0.2.10"} },
			"vpc.natGateways[0].snat[1]", "instance node-2 is already the source of vpc.natGateways[0].snat[0]"},
		{"a non-canonical CIDR", func(s *Scenario) { s.VPC.NATGateways[0].SNAT[0] = SNATEntry{CIDR: "172.20.1.1/16", EIP: "192.0.2.10"} },
			"vpc.natGateways[0].snat[0].cidr", "not in canonical form"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := natScenario()
			tt.mutate(s)
			probs := s.Validate()
			if tt.path == "" {
				assert.Empty(t, probs)
				return
			}
			var got []string
			for _, p := range probs {
				got = append(got, p.Path+": "+p.Msg)
				if p.Path == tt.path && strings.Contains(p.Msg, tt.msg) {
					return
				}
			}
			t.Errorf("no problem at %s containing %q; got:\n%s", tt.path, tt.msg, strings.Join(got, "\n"))
		})
	}
}

func TestBuildNAT(t *testing.T) {
	s := natScenario()
	require.Empty(t, s.Validate())
	w, err := Build(s, linktest.New())
	require.NoError(t, err)
	gws := w.VPC.NATGateways()
	require.Len(t, gws, 1)
	g := gws[0]
	assert.Equal(t, "vsw-a", g.VSwitch.Name)
	assert.True(t, g.VSwitch.CIDR.Contains(g.PrivateIP))
	for _, h := range append(w.Nodes, w.Instances...) {
		assert.NotEqual(t, h.IP, g.PrivateIP, "the gateway's address is allocated like an instance's")
	}
	ents := g.SNATEntries()
	require.Len(t, ents, 2)
	assert.Equal(t, w.Node("node-2").IP.String()+"/32", ents[0].Source.String(), "the instance entry is the node's primary address")
	assert.Equal(t, "0.0.0.0/0", w.VPC.Routes()[0].Destination.String())
	var b strings.Builder
	WriteOverview(&b, w)
	assert.Contains(t, b.String(), "0.0.0.0/0 → NAT gateway ngw")
	assert.Contains(t, b.String(), "NAT gateway ngw ("+g.ID+", enhanced, Internet) in vSwitch vsw-a")
	assert.Contains(t, b.String(), "EIP 192.0.2.50 (eip-")
	assert.Contains(t, b.String(), "associated with ECS instance ecs-1")
}
