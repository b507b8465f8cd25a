# The README's two commands: `make serve` and `make test`.
export PATH := $(PATH):/usr/local/go/bin

.PHONY: serve test build bench bench-all

# Start the server on the embedded store with a dev key; curl works at once.
serve:
	go run ./cmd/triggers serve --dev-key test-api-key-12345

# Run every test (race detector, real servers, brief fuzzing).
test:
	./scripts/test.sh

build:
	go build -o triggers ./cmd/triggers

# Load run against a real server: req/s, p50/p95/p99 and RSS (docs/PERFORMANCE.md).
bench:
	./bench/run.sh

# Every benchmark (Go benchmarks, load runs, limiter on/off) in one table
# beside the seed's targets; a few minutes (docs/PERFORMANCE.md).
bench-all:
	./bench/all.sh
