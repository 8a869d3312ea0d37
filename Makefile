# `make test` is the whole test suite; CI (.ci/run) calls it on a fresh machine as root.
CARGO ?= cargo
FUZZ_SMOKE_SECONDS ?= 20

.PHONY: run parse-fixtures test deps build-deps lint unit fuzz-smoke fuzz bench bench-exec

# The main job: the collector on this host with its defaults (eBPF process monitor; events as
# JSON Lines on stdout, its own logs on stderr; stop with Ctrl-C). Needs root.
run: build-deps
	$(CARGO) run --release -q -p tapio-cni-collector-lite -- run

# The log parsers over the bundled fixture logs (no root, no kernel features needed).
parse-fixtures:
	$(CARGO) run --release -q -p tapio-cni-collector -- parse fixtures/logs/*.log fixtures/logs/extra/*.log

test: deps lint unit fuzz-smoke

# Everything the suite needs beyond the Rust toolchain (CI runs as root on a fresh machine):
# clang and libelf build the BPF programs, the reference CNI plugins and iproute2 drive the
# kernel tests, tracefs serves the classic tracepoints; libbpf-tools' execsnoop is the
# exec-storm benchmark's baseline.
APT_PACKAGES = clang libelf-dev zlib1g-dev pkg-config make containernetworking-plugins iproute2 \
	libbpf-tools
build-deps:
	@dpkg -s $(APT_PACKAGES) >/dev/null 2>&1 || { apt-get update && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y $(APT_PACKAGES); }
	@mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing

deps: build-deps
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	cd fuzz && $(CARGO) fmt -- --check

unit:
	$(CARGO) test --workspace

# Each fuzz target briefly, starting from its regression inputs (stable toolchain: -s none).
fuzz-smoke:
	cd fuzz && for t in line_parser cni_json collector conf; do \
		mkdir -p corpus/$$t && cp -r regressions/$$t/. corpus/$$t/ 2>/dev/null; \
		[ $$t != conf ] || cp ../fixtures/conf/*.conf* corpus/conf/; \
		$(CARGO) fuzz run -s none $$t corpus/$$t -- -max_total_time=$(FUZZ_SMOKE_SECONDS) || exit 1; \
	done

# A long campaign: make fuzz TARGET=line_parser SECONDS=600
fuzz:
	cd fuzz && mkdir -p corpus/$(TARGET) && cp -r regressions/$(TARGET)/. corpus/$(TARGET)/ 2>/dev/null; \
		$(CARGO) fuzz run -s none $(TARGET) corpus/$(TARGET) -- -max_total_time=$(SECONDS)

bench:
	$(CARGO) bench -p tapio-cni-core --bench parse

# The exec-storm benchmark (README "Exec-storm benchmark"), as root: the release collector, then
# execsnoop, each observing BENCH_SECONDS of /bin/true spawned at full speed while bridge ADD/DEL
# pairs run in a network namespace. Outputs in target/bench-exec/.
BENCH_SECONDS ?= 60
bench-exec: build-deps
	$(CARGO) build --release -p tapio-cni-collector-lite --bin tapio-cni-collector-lite --example exec_storm
	./target/release/examples/exec_storm --seconds $(BENCH_SECONDS) \
		--collector target/release/tapio-cni-collector-lite --execsnoop /usr/sbin/execsnoop
