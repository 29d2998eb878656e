// Package gofloor is the project's reference speed floor: a bare,
// run-to-completion 8-hop Go forwarder for the cross-node flannel VXLAN
// pod-to-pod path (pod → veth → cni0 → route → VXLAN encap → VPC route →
// decap → route → cni0 → veth → pod) that does the real per-packet header
// work (parse, lookups, TTL and checksum, MAC rewrite, encap/decap) with
// none of a simulator's generality. BenchmarkPath8Hop is the floor that
// netsim's dataplane path benchmarks are compared against, as a ratio
// measured in the same `make bench` run.
//
// The code is copied from ../shared/reference/gofloor (the reference the
// project's issue 12 measures against) so that a clean clone can run it,
// unchanged but for two things: gopacket is imported from
// github.com/gopacket/gopacket (the fork netsim already depends on) in
// place of github.com/google/gopacket, and gofmt has aligned a few fields
// and comments. All of it lives in _test.go files: the package has no API
// and nothing imports it. floor_test.go is netsim's own: a test that the
// path still delivers, so `go test ./...` catches a broken floor. Run the
// floor alone with
//
//	GOMAXPROCS=1 go test ./internal/gofloor -run '^$' -bench Path8Hop -benchmem
package gofloor
