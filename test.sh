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
# A short run of each fuzz target, on top of its seed corpus: a count of
# inputs (a few seconds' worth each), not a duration, whose deadline
# failed runs with "context deadline exceeded" when it came while the
# coordinator waited on a worker (FuzzHTML and FuzzLoad in CI, with and
# without minimizing). Run them longer by hand (-fuzztime 10m).
go test -run '^$' -fuzz '^FuzzParse$' -fuzztime 8000x ./fetch
go test -run '^$' -fuzz '^FuzzFeedLinks$' -fuzztime 30000x ./fetch
go test -run '^$' -fuzz '^FuzzHubLinks$' -fuzztime 30000x ./fetch
go test -run '^$' -fuzz '^FuzzLoad$' -fuzztime 25000x ./config
go test -run '^$' -fuzz '^FuzzCanonicalLink$' -fuzztime 120000x .
go test -run '^$' -fuzz '^FuzzNeedles$' -fuzztime 120000x .
go test -run '^$' -fuzz '^FuzzHTML$' -fuzztime 60000x ./sanitize
go test -run '^$' -fuzz '^FuzzDecodeRecord$' -fuzztime 100000x ./storage
