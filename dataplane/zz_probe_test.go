package dataplane_test

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

func threadCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(1 /*RUSAGE_THREAD*/, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestZZProbe(t *testing.T) {
	if os.Getenv("ZZ") == "" {
		t.Skip()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	names := strings.Split(os.Getenv("ZZ"), ",")
	for _, p := range paths {
		want := false
		for _, n := range names {
			want = want || n == p.name || n == "all"
		}
		if !want {
			continue
		}
		res := map[bool][]float64{}
		bws := map[bool]*benchWorld{}
		for _, slow := range []bool{false, true} {
			bws[slow] = newBenchWorld(t, p.name, p.underlay, p.backend, p.dst, p.viaService)
			bws[slow].env.SlowPath = slow
		}
		const n = 200000
		for round := 0; round < 5; round++ {
			for _, slow := range []bool{false, true} {
				bw := bws[slow]
				c0 := threadCPU()
				bw.run(noTimer{}, n)
				res[slow] = append(res[slow], float64(threadCPU()-c0)/n)
			}
		}
		med := func(x []float64) float64 { sort.Float64s(x); return x[len(x)/2] }
		f, s := med(res[false]), med(res[true])
		fmt.Printf("%-22s fast %6.0f ns  slow %6.0f ns  fast/slow %.2f\n", p.name, f, s, f/s)
	}
}
