# netsim — two commands on a fresh machine:
#   make run    build netsim and run the bundled flannel VXLAN scenario
#   make test   vet, format check and every test (tshark tests need tshark)

GO     ?= go
BIN    := bin/netsim
SCEN   ?= scenarios/flannel-vxlan.yaml
OUT    := out

.PHONY: run build test bench bench-memory bench-model bench-kernel fmt vet clean golden kernel-test kernel-verify netpol-truth fuzz plan emulate-bench scale

build:
	$(GO) build -o $(BIN) ./cmd/netsim

run: build
	@mkdir -p $(OUT)
	./$(BIN) run $(SCEN) --pcap $(OUT)/$(basename $(notdir $(SCEN))).pcapng

# The bundled plan files: `netsim plan` on each scenarios/plan-*.yaml (a
# good plan per CNI, one file per classic mistake). Findings are what the
# mistake files are for: only bad input (exit 2) stops it.
plan: build
	@for f in scenarios/plan-*.yaml; do \
		echo "### netsim plan $$f"; ./$(BIN) plan $$f; rc=$$?; \
		[ $$rc -le 1 ] || { echo "netsim plan $$f: exit $$rc"; exit $$rc; }; echo; \
	done

test:
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed on:"; gofmt -l .; exit 1; }
	$(GO) test ./...

# Benchmarks: one table of every dataplane path benchmark and the floor
# (internal/gofloor, a bare 8-hop Go forwarder): ns/packet, Mpps/core,
# ratios to the floor and to host-gw, allocations a packet. One core
# (-cpu 1), medians of BENCH_COUNT rounds; each round runs the floor,
# every path, the floor again, and a ratio is the median of the rounds'
# ratios (the floor's figure in a round: the mean of its two runs), so
# every ratio comes from the same run. The raw go test output is kept in
# $(OUT)/bench.txt.
BENCH_COUNT ?= 5
BENCH_TIME  ?= 1s
bench:
	@mkdir -p $(OUT)
	@: > $(OUT)/bench.txt
	@for i in $$(seq $(BENCH_COUNT)); do \
	  echo "bench: round $$i of $(BENCH_COUNT)" >&2; \
	  $(GO) test ./internal/gofloor -run '^$$' -bench '^BenchmarkPath8Hop$$' -benchmem -benchtime $(BENCH_TIME) -cpu 1 -count 1 >> $(OUT)/bench.txt || exit 1; \
	  $(GO) test ./dataplane -run '^$$' -bench 'PodToPod' -benchmem -benchtime $(BENCH_TIME) -cpu 1 -count 1 >> $(OUT)/bench.txt || exit 1; \
	  $(GO) test ./internal/gofloor -run '^$$' -bench '^BenchmarkPath8Hop$$' -benchmem -benchtime $(BENCH_TIME) -cpu 1 -count 1 >> $(OUT)/bench.txt || exit 1; \
	done
	@$(GO) run ./cmd/benchtable < $(OUT)/bench.txt

# The modelled encapsulation cost of every CNI mode (netsim bench model):
# bytes on the wire per payload byte and per-packet work, derived from
# traced runs of the simulator.
bench-model: build
	./$(BIN) bench model

# The real kernel's data path per CNI mode (root, iperf3): 64-byte UDP
# packets/s and TCP throughput from pod a to pod b on another node, for
# every mode `netsim kernel` can build on the topology of bench-model,
# each round measuring every mode so ratios to host-gw come from adjacent
# runs; medians of KBENCH_RUNS rounds of KBENCH_SECONDS per iperf3 test.
# Skipped without root; modes the realiser cannot build are listed.
KBENCH_RUNS    ?= 3
KBENCH_SECONDS ?= 2
bench-kernel:
	NETSIM_KERNEL_BENCH=1 NETSIM_KERNEL_BENCH_RUNS=$(KBENCH_RUNS) NETSIM_KERNEL_BENCH_SECONDS=$(KBENCH_SECONDS) \
		$(GO) test ./sim/emulate -run '^TestKernelModesReport$$' -count 1 -v -timeout 30m

# The memory table for long runs: sim's TestMemoryIsFlatInExchanges (heap
# after GC for a flow of n and k×n exchanges) as a table.
bench-memory:
	@mkdir -p $(OUT)
	@$(GO) test ./sim -run '^TestMemoryIsFlatInExchanges$$' -count 1 -v > $(OUT)/bench-memory.txt; rc=$$?; \
	  $(GO) run ./cmd/benchtable --memory < $(OUT)/bench-memory.txt && exit $$rc

# Scale: `netsim validate` (load, validate, build) on generated clusters
# of SCALE_NODES nodes × SCALE_PODS pods for each CNI (netsim gen), one
# child process each: validate seconds, heap after GC, max RSS, one traced
# cross-node flow, the child's CPU time. Flannel stops at 1,000 nodes,
# Calico at 2,000 (NETSIM_SCALE_CALICO_MAX=5000 for more: calico-ipip 5,000
# × 30 takes 1.4 GiB RSS; calico-bgp is still programmed pair by pair, and
# its N² routes would take some 8 GiB).
SCALE_NODES ?= 100,500,1000,2000,5000
SCALE_PODS  ?= 30
SCALE_CNI   ?= flannel-vxlan,flannel-hostgw,flannel-alivpc,terway,calico-ipip,calico-bgp
scale:
	NETSIM_SCALE=1 NETSIM_SCALE_SIZES=$(SCALE_NODES) NETSIM_SCALE_PODS=$(SCALE_PODS) NETSIM_SCALE_CNI=$(SCALE_CNI) \
		$(GO) test ./topology/gen -run '^TestScale$$' -count 1 -v -timeout 60m

# Emulator throughput (root, iperf3): TCP and 64-byte UDP between two pods
# on different nodes of flannel vxlan and alivpc, through `netsim emulate`
# and through the kernel build of the same topology, alternating so each
# ratio comes from adjacent runs; medians of BENCH_RUNS runs of
# BENCH_SECONDS each.
BENCH_RUNS    ?= 3
BENCH_SECONDS ?= 3
emulate-bench:
	NETSIM_EMULATE_BENCH=1 NETSIM_EMULATE_BENCH_RUNS=$(BENCH_RUNS) NETSIM_EMULATE_BENCH_SECONDS=$(BENCH_SECONDS) \
		$(GO) test ./sim/emulate -run '^TestThroughputReport$$' -count 1 -v -timeout 30m

# The kernel differential test with its table of differences (root; it is
# also part of `go test ./...`, and skips itself without root).
kernel-test:
	$(GO) test ./topology/kernel -run KernelDifferential -count 1 -v

# netsim kernel verify on every bundled scenario (root): the simulator's
# verdict and source of every flow against the same topology built from
# kernel devices; exits non-zero on the first disagreement.
kernel-verify: build
	@for f in scenarios/*.yaml; do case $$f in scenarios/plan-*) continue;; esac; \
	  ./bin/netsim kernel verify $$f || exit 1; echo; done

# The NetworkPolicy truth tables, more of them: the 48 Kubernetes e2e
# cases (testdata/netpol-e2e) and 3000 generated cases (`make test` runs
# 400) on the data plane, against the e2e expectations and the test-only
# evaluator. SEED=n for another generated set.
SEED ?= 20261202
netpol-truth:
	$(GO) test ./sim -run 'Netpol|ParseGrid' -netpol-truth-cases 3000 -netpol-truth-seed $(SEED) -count 1

# Fuzzing: each target runs for FUZZTIME, one at a time (go test -fuzz
# takes one target per run), with FUZZPARALLEL workers. Crashers land in
# PKG/testdata/fuzz/TARGET/ and are then seeds of every `go test`: keep
# them. Finds whose fix belongs to another change wait in
# PKG/testdata/fuzz-pending/ (NETSIM_FUZZ_PENDING=1 go test runs them).
# CI runs `make fuzz FUZZTIME=10s`. See .ci/fuzz. FUZZ_TARGETS=PKG:TARGET...
# runs a subset. The first -fuzz run compiles every dependency again with
# coverage instrumentation (minutes with a cold build cache, once).
FUZZTIME     ?= 60s
FUZZPARALLEL ?= 2
FUZZ_TARGETS ?= topology:FuzzParse topology/k8s:FuzzDecode \
	dataplane/packet:FuzzSummary dataplane/packet:FuzzViews \
	sim:FuzzFrame sim:FuzzRun
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) FUZZPARALLEL=$(FUZZPARALLEL) sh .ci/fuzz $(FUZZ_TARGETS)

# Rewrite golden files after an intended change (review the diff).
golden:
	$(GO) test ./sim ./topology -update
	$(GO) test ./cmd/netsim -run 'TestPlanGolden|TestREADMEExamplePlan' -update

fmt:
	gofmt -w .

clean:
	rm -rf bin $(OUT)
