package k8s

import (
	"encoding/json"
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
)

// MaxPods is the most pods the manifests of one scenario may make, Pod
// objects and Deployment replicas together (and so the most replicas of
// one Deployment). It is netsim's memory bound, not a Kubernetes one
// (spec.replicas is an int32): about 8 KB RSS a pod once built (measured:
// 10,000 pods on 40 nodes, 104 MB), and it keeps a Deployment from making
// pods before the scenario's other limits are checked.
const MaxPods = 20000

// Objects expands the Deployments into pods, places the pods without
// spec.nodeName, and returns everything decoded with every problem found
// (sorted by file and line). Call it after the last Decode; later calls
// return the same result.
func (d *Decoder) Objects() (*Objects, Errors) {
	if d.done {
		return &d.objs, d.errs
	}
	d.done = true
	explicit := map[string]bool{}
	for _, it := range d.items {
		if p, ok := it.(*Pod); ok {
			explicit[p.Ref()] = true
		}
	}
	next := 0
	place := func(p *Pod) {
		if p.Node == "" && len(d.opts.Nodes) > 0 {
			p.Node, p.Placed = d.opts.Nodes[next%len(d.opts.Nodes)], true
			next++
		}
		d.objs.Pods = append(d.objs.Pods, p)
	}
	total := 0
	for _, it := range d.items {
		switch it := it.(type) {
		case *Pod:
			place(it)
			total++
		case *template:
			if total+it.dep.Replicas > MaxPods {
				d.errs = append(d.errs, it.dep.Errorf("spec.replicas", "%s replicas bring the manifests to %s pods, more than netsim's limit of %s pods in a scenario", thousands(int64(it.dep.Replicas)), thousands(int64(total+it.dep.Replicas)), thousands(MaxPods)))
				it.dep.Replicas = 0
				continue
			}
			total += it.dep.Replicas
			for _, p := range d.replicas(it, explicit) {
				place(p)
			}
		}
	}
	d.items = nil
	d.errs.Sort()
	d.objs.Warnings.Sort()
	return &d.objs, d.errs
}

// replicas creates a Deployment's pods as its ReplicaSet would: the
// ReplicaSet is named <deployment>-<pod-template-hash>, and its pods get
// generateName "<replicaset>-" (cut to 58 characters) plus 5 random
// characters from the API server's alphabet; the random part comes from
// the seed and the Deployment's name, so the names are the same on every
// run and do not change when other objects are added.
func (d *Decoder) replicas(t *template, taken map[string]bool) []*Pod {
	dep := t.dep
	h := fnv.New64a()
	h.Write([]byte(dep.Ref()))
	rng := rand.New(rand.NewPCG(uint64(d.opts.Seed), h.Sum64()))
	base := dep.Name + "-" + dep.PodTemplateHash + "-"
	if len(base) > maxGeneratedNameBaseLen {
		base = base[:maxGeneratedNameBaseLen]
	}
	podLabels := maps.Clone(t.labels)
	if podLabels == nil {
		podLabels = map[string]string{}
	}
	podLabels[podTemplateHashLabel] = dep.PodTemplateHash
	var pods []*Pod
	for range dep.Replicas {
		var name string
		for {
			name = base + randomSuffix(rng)
			if !taken[dep.Namespace+"/"+name] {
				break
			}
		}
		taken[dep.Namespace+"/"+name] = true
		dep.Pods = append(dep.Pods, name)
		containers := make([]Container, len(t.spec.containers))
		for i, c := range t.spec.containers {
			c.Ports = append([]ContainerPort(nil), c.Ports...)
			containers[i] = c
		}
		pods = append(pods, &Pod{
			Meta: Meta{Kind: "Pod", Namespace: dep.Namespace, Name: name, Labels: maps.Clone(podLabels),
				Annotations: maps.Clone(t.annotations), Source: dep.Source},
			Owner:      dep.String(),
			Node:       t.spec.nodeName,
			Containers: containers,
			Ready:      true,
		})
	}
	return pods
}

// podTemplateHashLabel is the label the Deployment controller adds to a
// ReplicaSet's pods (appsv1.DefaultDeploymentUniqueLabelKey).
const podTemplateHashLabel = "pod-template-hash"

// alphanums is the API server's alphabet for generated names (no vowels,
// no confusable characters): k8s.io/apimachinery/pkg/util/rand.
const alphanums = "bcdfghjklmnpqrstvwxz2456789"

func randomSuffix(rng *rand.Rand) string {
	b := make([]byte, 5)
	for i := range b {
		b[i] = alphanums[rng.IntN(len(alphanums))]
	}
	return string(b)
}

// podTemplateHash is the pod-template-hash of a template: the Deployment
// controller hashes the template with FNV-32a and encodes the decimal
// number with rand.SafeEncodeString. It hashes a spew dump of the Go
// value; netsim hashes the template's JSON, so the value differs from a
// real cluster's but, like it, depends on the template alone.
func podTemplateHash(t *corev1.PodTemplateSpec) string {
	b, _ := json.Marshal(t)
	h := fnv.New32a()
	h.Write(b)
	return utilrand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}
