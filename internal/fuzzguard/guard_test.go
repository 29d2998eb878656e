package fuzzguard

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseCorpus(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []any
		wantErr string
	}{
		{name: "bytes and a seed", in: "go test fuzz v1\n[]byte(\"a\\nb\")\nint64(7)\n", want: []any{[]byte("a\nb"), uint64(7)}},
		{name: "rune literal byte, bool, string", in: "go test fuzz v1\nbyte('x')\nbool(true)\nstring(\"s\")\n", want: []any{uint64('x'), true, []byte("s")}},
		{name: "hex integer", in: "go test fuzz v1\nuint16(0x10)\n", want: []any{uint64(16)}},
		{name: "no header", in: "[]byte(\"a\")\n", wantErr: "not a Go fuzz corpus file"},
		{name: "unknown type", in: "go test fuzz v1\nfloat64(1.5)\n", wantErr: "type float64"},
		{name: "bad literal", in: "go test fuzz v1\n[]byte(a)\n", wantErr: "corpus line"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseCorpus([]byte(tc.in))
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// fakeTB records a failure instead of stopping the test.
type fakeTB struct {
	testing.TB
	failed string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = format
}

func TestRunBounds(t *testing.T) {
	// Generous time bounds except where time is the point: the machine
	// may be loaded.
	roomy := Limits{Time: 10 * time.Second, Alloc: 16 << 20}
	tests := []struct {
		name string
		l    Limits
		f    func()
		want string // "" when Run must not fail
	}{
		{name: "quick call passes", l: roomy, f: func() {}},
		{name: "panic is reported", l: roomy, f: func() { panic("boom") }, want: "panicked"},
		{name: "slow call fails", l: Limits{Time: 50 * time.Millisecond, Alloc: 1 << 40}, f: func() { time.Sleep(time.Second) }, want: "took more than"},
		// The allocating call comes last: Run returns when the bound is
		// crossed while its goroutine goes on allocating, which a case after
		// it would count as its own (the process's allocations are measured).
		{name: "allocating call fails", l: roomy, f: func() {
			var keep [][]byte
			for range 64 {
				keep = append(keep, make([]byte, 1<<20))
			}
			_ = keep
		}, want: "allocated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ft := &fakeTB{TB: t}
			Run(ft, tc.l, "call", tc.f)
			if tc.want == "" {
				assert.Empty(t, ft.failed)
				return
			}
			assert.Contains(t, ft.failed, tc.want)
		})
	}
}
