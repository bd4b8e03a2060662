# Potok's workshop. `make run` starts a broker on localhost:9092 with data in
# ./potok-data; `make test` runs everything CI runs. Both install what they
# need (Go modules through the Go proxy, kcat from Debian, npm packages).

GO       ?= go
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
BIN      ?= bin/potok
FUZZTIME ?= 60s
# make crash: rounds of load, SIGKILL and check (about 5 s a round).
CRASH_ROUNDS ?= 30
# make soak: how long the mixed load runs.
SOAK_DURATION ?= 10m

.PHONY: all build run test unit testrace lint fuzz crash soak bench bench-quick bench-scale bench-probe bench-go compat compat-crash compat-full deps clean readme

all: build

build:
	$(GO) build -o $(BIN) ./cmd/potok

run: build
	./$(BIN) serve

# The suite CI runs (kept under 20 minutes on 2 cores): static checks, the
# unit and integration tests under the race detector, then the real-client
# compatibility tests.
test: lint testrace compat

unit:
	$(GO) test -count=1 ./...

testrace:
	$(GO) test -race -count=1 -timeout 15m ./...

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1)
	$(GO) vet ./...
	$(STATICCHECK) ./...
	cd compat-tests && $(GO) vet ./... && $(STATICCHECK) ./...
	cd bench && $(GO) vet ./... && $(STATICCHECK) ./...

# Every fuzz target for FUZZTIME each (make fuzz FUZZTIME=10s for a quick pass).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "== $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

# Crash consistency (compat-tests/crash TestCrashRounds): CRASH_ROUNDS rounds
# of idempotent, transactional and group-consumer load on the real binary, a
# SIGKILL at a random moment, a restart, and a check that every acknowledged
# record is there once and in order, committed offsets never go backwards
# and transactions are whole. CRASH_SEED=n replays a run's kill times.
crash: build
	cd compat-tests && POTOK_BIN=$(CURDIR)/$(BIN) CRASH_ROUNDS=$(CRASH_ROUNDS) $(GO) test -count=1 -run '^TestCrashRounds$$' -timeout 0 -v ./crash

# Resource soak (compat-tests/soak TestSoak): mixed produce, consume and
# group churn for SOAK_DURATION; fails if the broker's memory, goroutines or
# file descriptors keep growing after the warm-up.
soak: build
	cd compat-tests && POTOK_BIN=$(CURDIR)/$(BIN) SOAK_DURATION=$(SOAK_DURATION) $(GO) test -count=1 -run '^TestSoak$$' -timeout 0 -v ./soak

# The benchmark program (bench/, its own module so that kfake stays out of
# this one): Potok against franz-go's kfake in memory, persisted, and
# persisted with fsync per batch, each a separate process; prints a table of
# medians and ratios and writes bench-results.json. BENCHFLAGS passes flags
# (-reps 5, -only 'produce 1KiB', -brokers potok,kfake-disk, ...). About 25
# minutes with the defaults; bench-quick is a 3-minute smoke run.
BENCHFLAGS ?=
bench: build
	cd bench && $(GO) build -o ../bin/kfakebroker ./kfakebroker && $(GO) build -o ../bin/potok-bench .
	cd bench && ../bin/potok-bench -potok ../$(BIN) -kfake ../bin/kfakebroker -json ../bench-results.json $(BENCHFLAGS)

bench-quick:
	$(MAKE) bench BENCHFLAGS="-quick $(BENCHFLAGS)"

# Potok alone at scale: 10,000 idle partitions, 1,000 connections, startup
# with 1,000 partitions and 10 GiB of data.
bench-scale: build
	cd bench && $(GO) build -o ../bin/potok-bench .
	cd bench && ../bin/potok-bench -scale -potok ../$(BIN) -json ../bench-scale.json $(BENCHFLAGS)

# The machine itself: what writing into the page cache, around it (O_DIRECT)
# and fdatasync cost here (2 GiB per step, in PROBE_DIR).
PROBE_DIR ?= $(CURDIR)
bench-probe:
	cd bench && $(GO) build -o ../bin/potok-bench . && ../bin/potok-bench -probe 2147483648 -dir $(PROBE_DIR)

# Go benchmarks of the hot paths (logstore, records, broker produce/fetch).
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./logstore/... ./records/... ./broker/...

deps:
	@command -v kcat >/dev/null 2>&1 || (apt-get install -y kcat >/dev/null 2>&1 || (apt-get update >/dev/null && apt-get install -y kcat >/dev/null))
	@command -v kcat >/dev/null 2>&1 || (echo "kcat could not be installed"; exit 1)
	@# kafkajs and its codecs, from the lock file; skipped when node_modules
	@# already matches it. lz4 and @kafkajs/zstd are optional native modules
	@# (built against the installed Node's headers, see compat-tests/js/.npmrc);
	@# cppzst needs C++17 for Node 20's headers.
	@if [ -f compat-tests/js/package.json ]; then cd compat-tests/js && \
		if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then \
			CXXFLAGS=-std=c++17 npm ci --no-audit --no-fund --loglevel=error; fi; fi

# Real clients against a real broker: franz-go, sarama, kafka-go,
# confluent-kafka-go (librdkafka), kcat and kafkajs.
compat: deps build
	cd compat-tests && POTOK_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -p 2 -timeout 15m ./...

# The long variant of compat-tests/txn's crash loop (a few minutes): every
# transactional client's consume-transform-produce pipeline through 30000
# records and 20 SIGKILLs of itself and of the broker, exactly once.
compat-crash: deps build
	cd compat-tests && POTOK_BIN=$(CURDIR)/$(BIN) POTOK_COMPAT_LONG=1 $(GO) test -count=1 -timeout 30m -run 'TestPipelineCrashLoop' -v ./txn

# franz-go's own kgo test suite against a running potok (about 20 minutes).
# Prints one line per test and "N passed, N failed, N skipped".
compat-full: build
	POTOK_BIN=$(CURDIR)/$(BIN) compat-tests/kgo-suite.sh

clean:
	rm -rf bin potok-data bench-results.json bench-scale.json

# Regenerate README.md's API table from the broker's registry.
readme:
	@$(GO) run ./cmd/potok apis > .apitable.tmp
	@awk 'BEGIN{t=""; while ((getline l < ".apitable.tmp") > 0) t = t l "\n"} \
		/<!-- api-table/ {print; printf "%s", t; skip=1; next} /<!-- \/api-table -->/ {skip=0} !skip {print}' README.md > README.md.tmp
	@mv README.md.tmp README.md; rm -f .apitable.tmp
