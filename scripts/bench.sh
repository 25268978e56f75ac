#!/usr/bin/env bash
# bench.sh: mcpauthd's measurements, each beside its floor, in one run.
# Results go to docs/benchmarks.md by hand, with the machine and the date.
#   BENCH_IDLE=60 scripts/bench.sh      # idle CPU over a full minute
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(go version | cut -d' ' -f3)"
grep -m1 'model name' /proc/cpuinfo || true
go test -run '^$' -bench 'TokenHandout' -benchtime "${HANDOUT_N:-20000}x" -count "${COUNT:-3}" ./internal/bench
go test -run '^$' -bench 'TokenCommand' -benchtime "${COMMAND_N:-200}x" -count "${COUNT:-3}" ./internal/bench
go test -run '^$' -bench 'Scale' -benchtime 3x ./internal/bench
# Both benchmarks of the proxy's hop in one command, so that their targets are met in the same run;
# MCPAUTHD_BENCH_BASE adds an older build beside it (docs/benchmarks.md).
PLAINHOP_CALLS=${PLAINHOP_CALLS:-1000} go test -run '^$' -bench 'PlainHop|Bridges' -benchtime 1x -count "${COUNT:-3}" ./internal/bench
go test -run '^$' -bench 'ProcessHop' -benchtime 2000x -count "${COUNT:-3}" ./internal/bench
go test -run '^$' -bench 'CallTool|PlainCall' -benchtime 2000x -count "${COUNT:-3}" -benchmem ./proxy
