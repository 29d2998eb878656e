package kernel

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSaveSetsDropsInitvalAndSortsMembersPerSet(t *testing.T) {
	for _, c := range []struct {
		name, save string
		want       []string
	}{
		{"nothing", "", nil},
		{
			"initval is random per set, bucketsize stays",
			"create a hash:net family inet hashsize 1024 maxelem 1048576 bucketsize 12 initval 0xf6b09712\nadd a 10.244.0.0/16\n",
			[]string{"create a hash:net family inet hashsize 1024 maxelem 1048576 bucketsize 12", "add a 10.244.0.0/16"},
		},
		{
			"members sorted within their set, sets kept in order",
			"create b hash:ip family inet hashsize 1024 maxelem 65536\nadd b 10.0.0.9\nadd b 10.0.0.1\n" +
				"create a bitmap:port range 0-65535\nadd a 80\n",
			[]string{"create b hash:ip family inet hashsize 1024 maxelem 65536", "add b 10.0.0.1", "add b 10.0.0.9",
				"create a bitmap:port range 0-65535", "add a 80"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, SaveSets(c.save))
		})
	}
}

// Without the ipset tool a node whose rules match a set cannot be built
// (ErrUnsupported, so the differential test skips it with the reason);
// a node whose sets no rule matches is built without them, and a node
// without sets never needs the tool.
func TestIPSetsWithoutTheTool(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	require.Empty(t, IPSetCommand())
	sets := "create cali40all-ipam-pools hash:net family inet hashsize 1024 maxelem 1048576\nadd cali40all-ipam-pools 10.244.0.0/16\n"
	for _, c := range []struct {
		name, sets, rules string
		unsupported       bool
		logged            bool
	}{
		{"no sets", "", "*nat\n-A POSTROUTING -j MASQUERADE\nCOMMIT\n", false, false},
		{"sets no rule matches", sets, "*nat\n-A cali-nat-outgoing -j RETURN\nCOMMIT\n", false, true},
		{"rules matching a set", sets, "*nat\n-A cali-nat-outgoing -m set --match-set cali40masq-ipam-pools src -j MASQUERADE\nCOMMIT\n", true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := New("unused-")
			err := n.ipsets("node-1", "unused-node-1", c.sets, c.rules)
			if c.unsupported {
				require.ErrorIs(t, err, ErrUnsupported)
				assert.Contains(t, err.Error(), "apt-get install ipset")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.logged, len(n.Log) == 1, "log: %q", n.Log)
		})
	}
	assert.ErrorContains(t, SupportedIPSets("unused-"), "needs the ipset tool")
}
