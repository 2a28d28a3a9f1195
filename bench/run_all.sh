#!/usr/bin/env bash
# leaseq's benchmarks and the peer harnesses, interleaved round by round, against one
# PostgreSQL; then the ratio table (leaseq / peer).
#   usage: bench/run_all.sh OUT.jsonl [synchronous_commit on|off] [rounds] [extra args...]
# Environment: PEERBENCH_PGHOST/PORT/USER/PGDATA (the server), PEERBENCH_DIR (peer venvs),
# PEERS (default "raw_floor pgqueuer chancy oban procrastinate"), N (default 20000),
# HTTP_FLOOR (default 1: bench/http_floor.py runs each round).
# Before every round and after the last, a "machine" line records the machine's load with
# nothing of the run going (bench/machine_load.py); ratios.py prints them.
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
OUT="${1:?outfile}"; SC="${2:-on}"; ROUNDS="${3:-3}"; shift 3 || shift $#
PEERDIR="${PEERBENCH_PEERS:-$HERE/../../shared/bench/peers}"  # shared/ lies beside the checkout
DIR="${PEERBENCH_DIR:-${TMPDIR:-/tmp}/peerbench}"
VENV="${PEERBENCH_VENV:-$DIR/venv}"
VENV312="${PEERBENCH_VENV312:-$DIR/venv312}"
PEERS="${PEERS:-raw_floor pgqueuer chancy oban procrastinate}"
N="${N:-20000}"
PY="${LEASEQ_PYTHON:-$HERE/../.venv/bin/python}"
LOG="${OUT%.jsonl}.stderr.log"
machine() { "$PY" "$HERE/machine_load.py" "$@" >>"$OUT"; }
for r in $(seq 1 "$ROUNDS"); do
  machine --run-index "$r" --label before
  echo "== round $r leaseq sync_commit=$SC $(date +%T)" >&2
  "$PY" "$HERE/leaseq_bench.py" --runs 1 --run-index "$r" --sync-commit "$SC" --n "$N" "$@" \
    2>>"$LOG" | grep '^{' >>"$OUT"
  # the HTTP enqueue's floor: the same hop with no leaseq code (HTTP_FLOOR=0: skipped)
  if [ "${HTTP_FLOOR:-1}" = 1 ]; then
    echo "== round $r http_floor sync_commit=$SC $(date +%T)" >&2
    "$PY" "$HERE/http_floor.py" --run-index "$r" --sync-commit "$SC" --n "$N" \
      2>>"$LOG" | grep '^{' >>"$OUT"
  fi
  for p in $PEERS; do
    py="$VENV/bin/python"; [ "$p" = oban ] && py="$VENV312/bin/python"
    echo "== round $r peer $p sync_commit=$SC $(date +%T)" >&2
    args=(--runs 1 --run-index "$r" --sync-commit "$SC" --n "$N")
    [ -n "${PEER_ONLY:-}" ] && args+=(--only $PEER_ONLY)
    [ "$p" = raw_floor ] && [ -n "${FLOOR_ONLY:-}" ] && args=(--runs 1 --run-index "$r" --sync-commit "$SC" --n "$N" --only $FLOOR_ONLY)
    "$py" "$PEERDIR/bench_$p.py" "${args[@]}" 2>>"$LOG" | grep '^{' >>"$OUT"
  done
done
machine --run-index "$ROUNDS" --label after
"$PY" "$HERE/ratios.py" "$OUT"
