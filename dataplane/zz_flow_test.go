package dataplane_test

import (
	"fmt"
	"testing"
)

func TestZZFlow(t *testing.T) {
	bw := newCalicoBenchWorld(t, "calico-cross-node-ipip", "vpc", "{ipipMode: Always}", "node-2")
	fc := bw.env.Flows
	for i := 0; i < 1000; i++ {
		bw.send()
	}
	fmt.Println("recorded", fc.Recorded, "replayed", fc.Replayed, "missed", fc.Missed, fc.Recording())
}

func TestZZAlloc(t *testing.T) {
	bw := newCalicoBenchWorld(t, "calico-cross-node-ipip", "vpc", "{ipipMode: Always}", "node-2")
	for i := 0; i < 100; i++ {
		bw.send()
	}
	a := testing.AllocsPerRun(1000, bw.send)
	fmt.Println("allocs", a)
}
