package topology

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"netsim/topology/ack"
	"netsim/topology/hint"
)

// InstanceTypeSpec is one entry of the scenario's instanceTypes: the ENI
// figures of an ECS instance type, named as DescribeInstanceTypes names
// them. An entry with the name of a built-in type (package ack) overrides
// the figures it gives and keeps the others; an entry with a new name
// adds a type, and then needs eniQuantity and eniPrivateIpAddressQuantity.
type InstanceTypeSpec struct {
	// Name is the InstanceTypeId, e.g. "ecs.g7.xlarge".
	Name string `yaml:"name"`
	// EniQuantity is the number of ENIs the instance can have, the
	// primary one included (at least 1).
	EniQuantity *int `yaml:"eniQuantity"`
	// EniPrivateIpAddressQuantity is the number of private IPv4 addresses
	// per ENI, its primary address included (at least 1).
	EniPrivateIpAddressQuantity *int `yaml:"eniPrivateIpAddressQuantity"`
	// EniTotalQuantity is the number of ENIs including trunk member ENIs
	// (at least EniQuantity). Default for a new type: EniQuantity.
	EniTotalQuantity *int `yaml:"eniTotalQuantity"`
	// EniTrunkSupported says the type supports a trunk ENI. Default for a
	// new type: false.
	EniTrunkSupported *bool `yaml:"eniTrunkSupported"`
}

// instanceTypeRE is the shape of an InstanceTypeId: "ecs.", the family
// ("g7", "u1-c1m4"), ".", the size ("xlarge", "8xlarge", "small").
var instanceTypeRE = regexp.MustCompile(`^ecs\.[a-z0-9]+(-[a-z0-9]+)*\.[a-z0-9]+(-[a-z0-9]+)*$`)

// InstanceTypeOf resolves an instance type name as written on a node or
// instance: "" is ack.DefaultInstanceType; other names are looked up in
// the built-in table with the scenario's instanceTypes applied.
func (s *Scenario) InstanceTypeOf(name string) (ack.InstanceType, bool) {
	if name == "" {
		name = ack.DefaultInstanceType
	}
	return s.catalog.Lookup(name)
}

// terwayENIMode is the ENI mode of the scenario's Terway (shared unless
// its options say exclusive).
func terwayENIMode(s *Scenario) ack.ENIMode {
	if t := s.Cluster.CNI.Terway; t != nil && t.ENIMode == string(ack.ExclusiveENI) {
		return ack.ExclusiveENI
	}
	return ack.SharedENI
}

// usesInstanceCapacity reports whether the scenario's CNI takes pod
// capacity from the instance type (Terway) rather than from a pod CIDR.
func usesInstanceCapacity(s *Scenario) bool { return s.Cluster.CNI.Mode == "terway" }

// checkInstanceTypes checks instanceTypes, builds the scenario's catalog
// and checks every node's and instance's instanceType against it.
func (v *validator) checkInstanceTypes() {
	s := v.s
	var extra []ack.InstanceType
	seen := map[string]int{}
	// Entries that did not load: a reference to one of them (or, when an
	// entry has no usable name, to any unknown type) is not reported.
	brokenNames := map[string]bool{}
	nameless := false
	for i, spec := range s.InstanceTypes {
		path := indexPath("instanceTypes", i)
		if j, dup := seen[spec.Name]; dup {
			v.addf(path+".name", "instance type %s is already instanceTypes[%d]", spec.Name, j)
			continue
		}
		t, ok := v.checkInstanceTypeSpec(path, spec)
		if spec.Name == "" || !instanceTypeRE.MatchString(spec.Name) {
			nameless = true
			continue
		}
		seen[spec.Name] = i
		if !ok {
			brokenNames[spec.Name] = true
			continue
		}
		extra = append(extra, t)
	}
	s.catalog = ack.NewCatalog(extra...)

	v.typesNameless, v.typesBroken = nameless, brokenNames
	for i, in := range s.Instances {
		if in.InstanceType != "" {
			v.checkTypeRef(indexPath("instances", i)+".instanceType", in.InstanceType)
		}
	}
	for i, n := range s.Nodes {
		// ACK's join rule for Terway nodes is a planning rule
		// (pods-per-node, package ackplan).
		if n.InstanceType != "" {
			v.checkTypeRef(indexPath("nodes", i)+".instanceType", n.InstanceType)
		}
	}
}

// checkTypeRef checks that an instanceType written at path names a type
// of the scenario's catalog ("" is the default type), and returns it.
func (v *validator) checkTypeRef(path, name string) (ack.InstanceType, bool) {
	s := v.s
	t, ok := s.InstanceTypeOf(name)
	if !ok {
		if v.typesNameless || v.typesBroken[name] {
			// The type may be one of the entries that did not load.
			return t, false
		}
		v.addDep([]string{"instanceTypes"}, path, "unknown instance type %q: the built-in table has the families %s in sizes large to 8xlarge; add other types under instanceTypes: with their eniQuantity and eniPrivateIpAddressQuantity%s",
			name, strings.Join(builtinFamilies(), ", "), hint.DidYouMean(name, s.catalog.Names()))
	}
	return t, ok
}

// checkInstanceTypeSpec checks one instanceTypes entry and returns the
// type it defines (ok false when it has a problem).
func (v *validator) checkInstanceTypeSpec(path string, spec InstanceTypeSpec) (ack.InstanceType, bool) {
	switch {
	case spec.Name == "":
		v.add(path+".name", `required: the instance type's InstanceTypeId, e.g. "ecs.g7.xlarge"`)
		return ack.InstanceType{}, false
	case !instanceTypeRE.MatchString(spec.Name):
		v.addf(path+".name", `%q is not an ECS instance type name: expected "ecs.FAMILY.SIZE", e.g. "ecs.g7.xlarge"`, spec.Name)
		return ack.InstanceType{}, false
	}
	base, builtin := ack.Builtin(spec.Name)
	t := ack.InstanceType{Name: spec.Name}
	given := map[string]bool{}
	if builtin {
		t = base
	} else {
		if spec.EniQuantity == nil {
			v.addf(path+".eniQuantity", "required for an instance type that is not built in: the number of ENIs %s takes, the primary one included (DescribeInstanceTypes EniQuantity)", spec.Name)
		}
		if spec.EniPrivateIpAddressQuantity == nil {
			v.addf(path+".eniPrivateIpAddressQuantity", "required for an instance type that is not built in: the private IPv4 addresses per ENI (DescribeInstanceTypes EniPrivateIpAddressQuantity)")
		}
		if spec.EniQuantity == nil || spec.EniPrivateIpAddressQuantity == nil {
			return t, false
		}
	}
	ok := true
	if q := spec.EniQuantity; q != nil {
		given[ack.FieldENIs] = true
		if *q < 1 {
			v.addf(path+".eniQuantity", "%d is out of range: an ECS instance has at least its primary ENI (1 or more)", *q)
			ok = false
		}
		t.ENIs = *q
	}
	if q := spec.EniPrivateIpAddressQuantity; q != nil {
		given[ack.FieldIPv4PerENI] = true
		if *q < 1 {
			v.addf(path+".eniPrivateIpAddressQuantity", "%d is out of range: an ENI holds at least its primary private address (1 or more)", *q)
			ok = false
		}
		t.IPv4PerENI = *q
	}
	switch q := spec.EniTotalQuantity; {
	case q != nil:
		given[ack.FieldTotalENIs] = true
		t.TotalENIs = *q
		if *q < t.ENIs {
			v.addf(path+".eniTotalQuantity", "%d is less than eniQuantity %d: EniTotalQuantity counts the ENIs and the trunk member ENIs", *q, t.ENIs)
			ok = false
		}
	case !builtin:
		t.TotalENIs = t.ENIs
	case t.TotalENIs != 0 && t.TotalENIs < t.ENIs:
		v.addf(path+".eniQuantity", "%d is more than the built-in eniTotalQuantity %d of %s, which counts the ENIs too: give eniTotalQuantity as well", t.ENIs, t.TotalENIs, spec.Name)
		ok = false
	}
	if b := spec.EniTrunkSupported; b != nil {
		given[ack.FieldTrunkSupported] = true
		t.TrunkSupported = *b
	}
	src := fmt.Sprintf("scenario %s %s", v.s.File, path)
	if builtin {
		src += " over the built-in figures (" + base.Source + ")"
	}
	t.Source = src
	t.Unverified = slices.DeleteFunc(slices.Clone(t.Unverified), func(f string) bool { return given[f] })
	if len(t.Unverified) == 0 {
		t.Unverified = nil
	}
	return t, ok
}

// builtinFamilies lists the families of the built-in types ("ecs.g7", …).
func builtinFamilies() []string {
	var fams []string
	for _, n := range ack.BuiltinNames() {
		if f := instanceFamily(n); !slices.Contains(fams, f) {
			fams = append(fams, f)
		}
	}
	return fams
}

// instanceFamily is "ecs.g7" for "ecs.g7.xlarge".
func instanceFamily(name string) string {
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '.' {
			return name[:i]
		}
	}
	return name
}
