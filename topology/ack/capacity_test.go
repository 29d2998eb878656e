package ack

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFormulas checks Terway's formulas (pkg/aliyun/client/limit.go) on
// hand-written figures, including the edge cases GetInstanceType clamps.
func TestFormulas(t *testing.T) {
	tests := []struct {
		name                                  string
		it                                    InstanceType
		shared, exclusive, trunk, maxTrunkPod int
	}{
		{"ACK's example 8 ENIs x 30", InstanceType{ENIs: 8, IPv4PerENI: 30}, 210, 7, 0, 0},
		{"trunk: total - ENIs, total - 2", InstanceType{ENIs: 4, IPv4PerENI: 15, TotalENIs: 20, TrunkSupported: true}, 45, 3, 16, 18},
		{"total given but no trunk support", InstanceType{ENIs: 4, IPv4PerENI: 5, TotalENIs: 6}, 15, 3, 0, 0},
		{"terway limit_test fixture g7.large", InstanceType{ENIs: 4, IPv4PerENI: 5, TotalENIs: 6, TrunkSupported: true}, 15, 3, 2, 4},
		{"one ENI only: nothing for pods", InstanceType{ENIs: 1, IPv4PerENI: 10}, 0, 0, 0, 0},
		{"zero figures clamp to 0", InstanceType{}, 0, 0, 0, 0},
		{"total below ENIs clamps trunk to 0", InstanceType{ENIs: 4, IPv4PerENI: 1, TotalENIs: 3, TrunkSupported: true}, 3, 3, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.shared, tt.it.SharedENIPods(), "SharedENIPods")
			assert.Equal(t, tt.exclusive, tt.it.ExclusiveENIPods(), "ExclusiveENIPods")
			assert.Equal(t, tt.trunk, tt.it.TrunkPods(), "TrunkPods")
			assert.Equal(t, tt.maxTrunkPod, tt.it.MaximumTrunkPods(), "MaximumTrunkPods")
			assert.Equal(t, tt.shared, tt.it.MaxPods(SharedENI))
			assert.Equal(t, tt.exclusive, tt.it.MaxPods(ExclusiveENI))
		})
	}
}

// TestBuiltinTypes checks the built-in table against ACK's formulas for
// several instance types, and the join rules.
func TestBuiltinTypes(t *testing.T) {
	tests := []struct {
		name              string
		shared, exclusive int
		joinShared        bool
		joinExclusive     bool
		trunk             int
	}{
		// ACK's own example: (8 − 1) × 30 = 210.
		{"ecs.g7.4xlarge", 210, 7, true, true, 0},
		{"ecs.g7.xlarge", 45, 3, true, false, 16},
		// (3 − 1) × 6 = 12 > 11: the smallest g7 still joins.
		{"ecs.g7.large", 12, 2, true, false, 0},
		// (2 − 1) × 6 = 6: refused, as is every 2-ENI type.
		{"ecs.g6.large", 6, 1, false, false, 0},
		{"ecs.c6.large", 6, 1, false, false, 0},
		{"ecs.r6.large", 6, 1, false, false, 0},
		{"ecs.g6.xlarge", 20, 2, true, false, 0},
		{"ecs.c7.2xlarge", 45, 3, true, false, 0},
		{"ecs.g6.3xlarge", 50, 5, true, false, 0},
		{"ecs.r7.8xlarge", 210, 7, true, true, 0},
		{"ecs.c6.8xlarge", 140, 7, true, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it, ok := Builtin(tt.name)
			require.True(t, ok)
			assert.Equal(t, tt.shared, it.SharedENIPods())
			assert.Equal(t, tt.exclusive, it.ExclusiveENIPods())
			assert.Equal(t, tt.trunk, it.TrunkPods())
			ok, why := it.CanJoin(SharedENI)
			assert.Equal(t, tt.joinShared, ok, why)
			assert.Equal(t, ok, why == "")
			ok, why = it.CanJoin(ExclusiveENI)
			assert.Equal(t, tt.joinExclusive, ok, why)
			assert.Equal(t, ok, why == "")
		})
	}
}

func TestCanJoinSaysWhy(t *testing.T) {
	it, _ := Builtin("ecs.g6.large")
	_, why := it.CanJoin(SharedENI)
	assert.Equal(t, "ecs.g6.large allows (EniQuantity 2 − 1) × EniPrivateIpAddressQuantity 6 = 6 pods in shared ENI mode: ACK requires a maximum number of pods per node greater than 11", why)
	_, why = it.CanJoin(ExclusiveENI)
	assert.Equal(t, "ecs.g6.large has EniQuantity 2: in exclusive ENI mode ACK requires more than 6 ENIs", why)
	// The threshold itself: 11 is refused, 12 joins.
	assert.False(t, func() bool { ok, _ := (InstanceType{ENIs: 12, IPv4PerENI: 1}).CanJoin(SharedENI); return ok }())
	assert.True(t, func() bool { ok, _ := (InstanceType{ENIs: 13, IPv4PerENI: 1}).CanJoin(SharedENI); return ok }())
}

func TestFlannelPodsPerNode(t *testing.T) {
	tests := []struct{ mask, pods int }{
		{24, 255}, // the terraform doc's own example
		{25, 127}, {26, 63}, {27, 31}, {28, 15},
		{32, 0}, {-1, 0}, {33, 0},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.pods, FlannelPodsPerNode(tt.mask), "/%d", tt.mask)
	}
	assert.Equal(t, "2^(32−24) − 1 = 255", FlannelFormula(24))
}

// TestTableIsSourced checks that every built-in type names a source, has
// sane figures, and lists only known field names as unverified.
func TestTableIsSourced(t *testing.T) {
	fields := []string{FieldENIs, FieldIPv4PerENI, FieldTotalENIs, FieldTrunkSupported}
	seen := map[string]bool{}
	for _, it := range builtin {
		assert.False(t, seen[it.Name], "duplicate %s", it.Name)
		seen[it.Name] = true
		assert.True(t, strings.HasPrefix(it.Name, "ecs."), it.Name)
		assert.NotEmpty(t, it.Source, it.Name)
		assert.GreaterOrEqual(t, it.ENIs, 2, it.Name)
		assert.GreaterOrEqual(t, it.IPv4PerENI, 1, it.Name)
		if it.TotalENIs != 0 {
			assert.GreaterOrEqual(t, it.TotalENIs, it.ENIs, it.Name)
		} else {
			assert.False(t, it.Verified(FieldTotalENIs), "%s: an unknown EniTotalQuantity must be unverified", it.Name)
		}
		for _, f := range it.Unverified {
			assert.Contains(t, fields, f, it.Name)
		}
	}
	for _, fam := range []string{"g6", "g7", "g8i", "c6", "c7", "r7"} {
		for _, size := range []string{"large", "xlarge", "2xlarge", "4xlarge", "8xlarge"} {
			assert.True(t, seen["ecs."+fam+"."+size], "ecs.%s.%s missing", fam, size)
		}
	}
	def, ok := Builtin(DefaultInstanceType)
	require.True(t, ok)
	assert.Empty(t, def.Unverified, "the default type should be fully sourced")
	g8i, _ := Builtin("ecs.g8i.xlarge")
	assert.Equal(t, "unverified: EniQuantity, EniPrivateIpAddressQuantity, EniTotalQuantity, EniTrunkSupported", g8i.UnverifiedText())
}

func TestCatalog(t *testing.T) {
	custom := InstanceType{Name: "ecs.custom.large", ENIs: 3, IPv4PerENI: 10, Source: "scenario"}
	over := InstanceType{Name: "ecs.g7.large", ENIs: 5, IPv4PerENI: 6, Source: "scenario"}
	c := NewCatalog(custom, over)
	got, ok := c.Lookup("ecs.custom.large")
	require.True(t, ok)
	assert.Equal(t, custom, got)
	got, _ = c.Lookup("ecs.g7.large")
	assert.Equal(t, 24, got.SharedENIPods(), "the scenario's entry replaces the built-in one")
	builtinG7, _ := Builtin("ecs.g7.large")
	assert.Equal(t, 12, builtinG7.SharedENIPods(), "the built-in table is not changed")
	assert.Contains(t, c.Names(), "ecs.custom.large")
	assert.Len(t, c.Names(), len(builtin)+1)
	var nilCat *Catalog
	_, ok = nilCat.Lookup(DefaultInstanceType)
	assert.True(t, ok)
	assert.Equal(t, BuiltinNames(), nilCat.Names())
}
