#!/usr/bin/env bash
# The project's checks, as CI runs them: formatting, vet, staticcheck, and
# every test with the race detector. Needs Go and, for the Atom validation
# tests, jing (apt-get install jing); those tests skip without it.
set -euo pipefail
cd "$(dirname "$0")"

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" >&2
  echo "$unformatted" >&2
  exit 1
fi
go vet ./...
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
go test -race -count=1 -timeout 25m ./...
# The benchmark suite, once at small sizes: it catches breakage, it judges
# no speed (see BENCHMARKS.md for the real run).
go run ./bench -short > /dev/null
# A short run of each fuzz target, on top of its seed corpus; run them
# longer by hand (-fuzztime 10m). No minimizing here: an input found as
# -fuzztime ends was being minimized when the run's deadline came, and the
# run failed with "context deadline exceeded" (FuzzHTML, once); a crash is
# still reported and its input saved.
go test -run '^$' -fuzz '^FuzzParse$' -fuzztime 10s -fuzzminimizetime 0 ./fetch
go test -run '^$' -fuzz '^FuzzFeedLinks$' -fuzztime 5s -fuzzminimizetime 0 ./fetch
go test -run '^$' -fuzz '^FuzzHubLinks$' -fuzztime 5s -fuzzminimizetime 0 ./fetch
go test -run '^$' -fuzz '^FuzzLoad$' -fuzztime 10s -fuzzminimizetime 0 ./config
go test -run '^$' -fuzz '^FuzzCanonicalLink$' -fuzztime 5s -fuzzminimizetime 0 .
go test -run '^$' -fuzz '^FuzzNeedles$' -fuzztime 5s -fuzzminimizetime 0 .
go test -run '^$' -fuzz '^FuzzHTML$' -fuzztime 5s -fuzzminimizetime 0 ./sanitize
go test -run '^$' -fuzz '^FuzzDecodeRecord$' -fuzztime 5s -fuzzminimizetime 0 ./storage
