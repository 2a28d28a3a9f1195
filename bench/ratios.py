"""JSON lines of leaseq_bench.py and the peer harnesses -> markdown tables and ratios.

    python bench/ratios.py results/run.jsonl [more.jsonl ...]

Cells are "median (min-max)" over rounds. Ratios are leaseq / peer per round (rounds are
interleaved, so each pair ran close in time), reported as median (min-max); "best peer"
is the peer with the best median among the Python libraries (pgqueuer, chancy, oban,
procrastinate; the raw floor is a bound, not a peer).
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from typing import Any

PEERS = ("pgqueuer", "chancy", "oban", "procrastinate")
# The goals of issue #21 (ratio leaseq / best peer, in-process: / raw floor), one worker
# process, SDK defaults; a row without a goal is shown for context.
GOALS = {
    ("e2e", 1, 10): "≥ 1.5",
    ("e2e", 1, 50): "≥ 2",
    ("inprocess", 100): "≥ 0.5",
    ("enqueue", "http", 1): "≥ 1",
    ("enqueue", "http", 1000): "≥ 1.2",
    ("latency", "p50_ms"): "≤ 0.8",
    ("latency", "p99_ms"): "≤ 0.8",
}


def load(paths: list[str]) -> list[dict[str, Any]]:
    rows = []
    for path in paths:
        with open(path) as f:
            rows.extend(json.loads(line) for line in f if line.startswith("{"))
    return [r for r in rows if "error" not in r]


def key(r: dict[str, Any]) -> tuple[Any, ...]:
    m = r["measure"]
    if m == "enqueue":
        return (m, r.get("transport", "library"), r.get("batch", 1))
    if m == "throughput":
        base = (m, r.get("transport", "library"), r.get("workers", 1), r["concurrency"])
        prefetch = r.get("prefetch")  # leaseq's worker option; 0 and absent are the default
        if r.get("sdk") == "go":  # the Go SDK's worker (no prefetch)
            return (*base, "go worker")
        return (*base, f"prefetch {prefetch}") if prefetch else base
    if m == "claim_ack":
        return (m, r["batch"], r["consumers"])
    return (m,)


def cell(xs: list[float], digits: int = 0) -> str:
    if not xs:
        return "-"
    fmt = f"{{:,.{digits}f}}"
    med = fmt.format(statistics.median(xs))
    return med if len(xs) == 1 else f"{med} ({fmt.format(min(xs))}-{fmt.format(max(xs))})"


def by_process(runs: list[dict[str, Any]]) -> str:
    """leaseq's CPU s per 1,000 tasks per process (service, workers, the bench itself),
    median over rounds; the peers run in one process and report no split."""
    names: dict[str, list[float]] = defaultdict(list)
    for r in runs:
        for name, cpu in (r.get("cpu_s_per_1k_by_process") or {}).items():
            names[name].append(cpu)
    return ", ".join(f"{name} {statistics.median(xs):.3f}" for name, xs in names.items()) or "-"


def machine(rows: list[dict[str, Any]]) -> None:
    """The machine's load before each round and after the last (bench/machine_load.py)."""
    if not rows:
        return
    print("## The machine, with nothing of the run going\n")
    print("| round | when | time | load 1 / 5 / 15 min | cores busy % (1 s) | steal % | cores |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['run']} | {r['label']} | {r['at']} | {r['load1']} / {r['load5']} / "
            f"{r['load15']} | {r['busy_pct_of_all_cores']} | {r['sys_steal_pct']} | "
            f"{r['nproc']} |"
        )
    print()


def main(paths: list[str]) -> None:
    rows = load(paths)
    machine([r for r in rows if r["measure"] == "machine"])
    rows = [r for r in rows if r["measure"] != "machine"]
    by: dict[tuple[Any, ...], dict[str, dict[int, dict[str, Any]]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for r in rows:
        by[key(r)][r["peer"]][r.get("run", 0)] = r

    def values(k: tuple[Any, ...], peer: str, field: str) -> list[float]:
        return [r[field] for r in by[k][peer].values() if r.get(field) is not None]

    def wal(k: tuple[Any, ...], peer: str) -> str:
        """leaseq's WAL per task (the peers' harness does not read pg_stat_wal)."""
        records = values(k, peer, "wal_records_per_task")
        if not records:
            return "-"
        return f"{cell(records, 1)} / {cell(values(k, peer, 'wal_bytes_per_task'))}"

    print("## All measurements (median (min-max) over rounds)\n")
    print(
        "| measure | peer | jobs/s | p50 / p99 ms | py / pg CPU s per 1k | py / pg CPU % | "
        "CPU s per 1k by process | WAL records / bytes per task | steal % | other CPU % |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for k in sorted(by, key=str):
        for peer, runs in sorted(by[k].items()):
            one = next(iter(runs.values()))
            n = one.get("n") or 1
            py1k = [1000 * r["py_cpu_s"] / (r.get("n") or n) for r in runs.values()]
            pg1k = [
                1000 * r["pg_cpu_s"] / (r.get("n") or n)
                for r in runs.values()
                if r.get("pg_cpu_s") is not None
            ]
            print(
                f"| {' '.join(map(str, k))} | {peer} | {cell(values(k, peer, 'jobs_per_s'))} | "
                f"{cell(values(k, peer, 'p50_ms'), 1)} / {cell(values(k, peer, 'p99_ms'), 1)} | "
                f"{cell(py1k, 3)} / {cell(pg1k, 3)} | "
                f"{cell(values(k, peer, 'py_cpu_pct'))} / {cell(values(k, peer, 'pg_cpu_pct'))} | "
                f"{by_process(list(runs.values()))} | {wal(k, peer)} | "
                f"{cell(values(k, peer, 'sys_steal_pct'), 1)} | "
                f"{cell(values(k, peer, 'sys_other_cpu_pct'), 1)} |"
            )

    print("\n## Targets: leaseq / peer (per-round ratios, median (min-max))\n")
    print("| target | leaseq | peer | ratio | goal |")
    print("|---|---|---|---|---|")

    def best(k: tuple[Any, ...], field: str, lower: bool) -> str | None:
        meds = {p: statistics.median(values(k, p, field)) for p in PEERS if values(k, p, field)}
        if not meds:
            return None
        return (min if lower else max)(meds, key=meds.__getitem__)

    def ratio(
        lk: tuple[Any, ...], pk: tuple[Any, ...], peer: str, field: str, us: str = "leaseq"
    ) -> list[float]:
        ours, theirs = by[lk][us], by[pk][peer]
        out = []
        for run, r in ours.items():
            other = theirs.get(run) or next(iter(theirs.values()), None)
            if other and r.get(field) and other.get(field):
                out.append(r[field] / other[field])
        return out

    def line(
        name: str,
        lk: tuple[Any, ...],
        pk: tuple[Any, ...],
        peer: str | None,
        field: str,
        goal: str,
        digits: int = 0,
    ) -> None:
        if peer is None or not by[lk].get("leaseq"):
            print(f"| {name} | {cell(values(lk, 'leaseq', field), digits)} | - | - | {goal} |")
            return
        print(
            f"| {name} | {cell(values(lk, 'leaseq', field), digits)} | {peer} "
            f"{cell(values(pk, peer, field), digits)} | {cell(ratio(lk, pk, peer, field), 2)} "
            f"| {goal} |"
        )

    def variants(base: tuple[Any, ...]) -> list[tuple[tuple[Any, ...], str]]:
        """The default run, then each prefetch run of the same measure."""
        found = [(k, f", {k[-1]}") for k in sorted(by, key=str) if k[:-1] == base]
        return [(base, "")] * bool(by.get(base)) + found

    for workers in (1, 2):
        for c in (10, 50):
            pk = ("throughput", "library", 1, c)
            peer = best(pk, "jobs_per_s", lower=False)
            for lk, note in variants(("throughput", "http", workers, c)):
                line(
                    f"e2e HTTP, {workers} worker proc, c={c}{note} (jobs/s)",
                    lk,
                    pk,
                    peer,
                    "jobs_per_s",
                    GOALS.get(("e2e", workers, c), ""),
                )
    for workers in (1, 2):
        for c in (10, 50):
            base = ("throughput", "http", workers, c)
            go = (*base, "go worker")
            if by.get(base, {}).get("leaseq") and by.get(go, {}).get("leaseq"):
                ours = [
                    g["jobs_per_s"] / p["jobs_per_s"]
                    for run, g in by[go]["leaseq"].items()
                    if (p := by[base]["leaseq"].get(run)) and p.get("jobs_per_s")
                ]
                print(
                    f"| e2e HTTP, {workers} worker proc, c={c}: Go worker vs Python worker "
                    f"(jobs/s) | {cell(values(go, 'leaseq', 'jobs_per_s'))} | Python worker "
                    f"{cell(values(base, 'leaseq', 'jobs_per_s'))} | {cell(ours, 2)} | |"
                )
    for c in (10, 50, 100):
        for lk, note in variants(("throughput", "inprocess", 1, c)):
            for consumers in (1, 4):
                line(
                    f"in-process c={c}{note} vs raw floor k=100 C={consumers} (jobs/s)",
                    lk,
                    ("claim_ack", 100, consumers),
                    "raw_floor" if by[("claim_ack", 100, consumers)].get("raw_floor") else None,
                    "jobs_per_s",
                    GOALS.get(("inprocess", c), "") if consumers == 1 else "",
                )
    for batch in (1, 100, 1000):
        pk = ("enqueue", "library", batch)
        peer = best(pk, "jobs_per_s", lower=False)
        for transport in ("http", "store", "sql") if batch == 1 else ("http", "store"):
            line(
                f"enqueue {transport} batch {batch} (jobs/s)",
                ("enqueue", transport, batch),
                pk,
                peer,
                "jobs_per_s",
                GOALS.get(("enqueue", transport, batch), ""),
            )
    # bench/http_floor.py: the same hop with no leaseq code, against the same best peer
    for batch in (1, 1000):
        pk = ("enqueue", "library", batch)
        peer = best(pk, "jobs_per_s", lower=False)
        for transport in ("http", "sql"):
            fk = ("enqueue", transport, batch)
            if peer is None or not by[fk].get("http_floor"):
                continue
            how = "behind a bare ASGI app" if transport == "http" else "alone"
            print(
                f"| floor: raw INSERT {how}, batch {batch} (jobs/s) | "
                f"{cell(values(fk, 'http_floor', 'jobs_per_s'))} | "
                f"{peer} {cell(values(pk, peer, 'jobs_per_s'))} | "
                f"{cell(ratio(fk, pk, peer, 'jobs_per_s', us='http_floor'), 2)} | bound |"
            )
    for field in ("p50_ms", "p95_ms", "p99_ms"):
        peer = best(("latency",), field, lower=True)
        goal = GOALS.get(("latency", field), "")
        line(f"latency {field} (lower is better)", ("latency",), ("latency",), peer, field, goal, 1)


if __name__ == "__main__":
    main(sys.argv[1:])
