"""Where the latency samples spend their time: joins the files bench/stage_hooks.py wrote.

    LEASEQ_BENCH_STAGES=$TMPDIR/st/run1 python bench/leaseq_bench.py --only latency --db x
    python bench/latency_stages.py $TMPDIR/st/run1 [--worst 12]

Per task i, times in ms from the enqueue call's return in the bench process (ret):
  notify   the service's LISTEN connection hears the first NOTIFY after the enqueue arrived
  turn     a long-polling waiter is given its turn after that notify
  c0, c1   the claim statement that granted i starts / ends
  sret     TaskService.lease returns (the HTTP answer is encoded and written next)
  wrecv    the worker's transport has parsed the answer
  start    the handler starts (the latency)
and: in = enqueue request reaches TaskService.enqueue (from the call), enq = its duration,
back = its answer back to the bench. GC passes and other activity in the window are listed.
"""

from __future__ import annotations

import argparse
import bisect
import glob
import statistics
from collections import defaultdict


def load(prefix: str) -> dict[str, dict[str, list[tuple[int, float]]]]:
    by_role: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for path in glob.glob(prefix + ".*"):
        role = path[len(prefix) + 1 :].split(".")[0]
        events: dict[str, list[tuple[int, float]]] = defaultdict(list)
        with open(path) as f:
            for line in f:
                event, key, t = line.split()
                events[event].append((int(key), float(t)))
        by_role[role] = events
    return by_role


def per_key(events: list[tuple[int, float]]) -> dict[int, float]:
    out: dict[int, float] = {}
    for key, t in events:
        out.setdefault(key, t)
    return out


def first_after(times: list[float], t: float) -> float | None:
    k = bisect.bisect_left(times, t)
    return times[k] if k < len(times) else None


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100
    f = int(k)
    c = min(f + 1, len(xs) - 1)
    return xs[f] + (xs[c] - xs[f]) * (k - f)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("prefix")
    ap.add_argument("--worst", type=int, default=12)
    args = ap.parse_args()
    roles = load(args.prefix)
    bench, svc, wk = roles["bench"], roles.get("service", {}), roles.get("worker", {})
    call, ret = per_key(bench["bench_enq_call"]), per_key(bench["bench_enq_ret"])
    start = per_key(bench["wk_handler"])
    s_in, s_done = per_key(svc.get("svc_enq_in", [])), per_key(svc.get("svc_enq_done", []))
    c0, c1 = per_key(svc.get("svc_claim_start", [])), per_key(svc.get("svc_claim_end", []))
    sret, wrecv = per_key(svc.get("svc_lease_ret", [])), per_key(wk.get("wk_lease_recv", []))
    notifies = sorted(t for _, t in svc.get("svc_notify", []))
    turns = sorted(t for _, t in svc.get("svc_give_turn", []))
    rows = []
    for i in sorted(ret):
        if i not in start:
            continue
        r = ret[i]
        n = first_after(notifies, s_in.get(i, r))
        tu = first_after(turns, n) if n is not None else None

        def ms(t: float | None, r: float = r) -> float | None:
            return None if t is None else (t - r) * 1000

        rows.append(
            {
                "i": i,
                "lat": ms(start[i]),
                "in": (s_in[i] - call[i]) * 1000 if i in s_in else None,
                "enq": (s_done[i] - s_in[i]) * 1000 if i in s_in else None,
                "back": (r - s_done[i]) * 1000 if i in s_done else None,
                "notify": ms(n),
                "turn": ms(tu),
                "c0": ms(c0.get(i)),
                "c1": ms(c1.get(i)),
                "sret": ms(sret.get(i)),
                "wrecv": ms(wrecv.get(i)),
                "start": ms(start[i]),
                "t_call": call[i],
                "t_start": start[i],
            }
        )
    calls = _db_calls(svc)
    lats = [row["lat"] for row in rows]
    print(
        f"n={len(lats)} p50={pct(lats, 50):.2f} p95={pct(lats, 95):.2f} "
        f"p99={pct(lats, 99):.2f} max={max(lats):.2f} mean={statistics.mean(lats):.2f}"
    )
    cols = ["in", "enq", "back", "notify", "turn", "c0", "c1", "sret", "wrecv", "start"]
    # median of each stage and of each step between consecutive stages
    print("median: " + " ".join(f"{c}={_med(rows, c)}" for c in cols))
    steps = [("notify", "turn"), ("turn", "c0"), ("c0", "c1"), ("c1", "sret"),
             ("sret", "wrecv"), ("wrecv", "start")]  # fmt: skip
    print("step p50/p99/max: " + " ".join(f"{a}->{b}={_step(rows, a, b)}" for a, b in steps))
    for kind, name in _KINDS.items():
        print(f"db {name}: {_db_summary(calls, kind)}")
    print("worst:")
    print("   i    lat " + " ".join(f"{c:>7}" for c in cols) + "  activity")
    for row in sorted(rows, key=lambda x: -x["lat"])[: args.worst]:
        cells = " ".join(f"{row[c]:7.2f}" if row[c] is not None else "      -" for c in cols)
        lo, hi = row["t_call"] - 0.002, row["t_start"]
        notes = []
        for role, events in roles.items():
            for event, items in events.items():
                if event.startswith(("gc_start", "svc_claim_empty", "wk_report", "wk_lease_empty")):
                    for key, t in items:
                        if lo <= t <= hi:
                            at = (t - row["t_call"]) * 1000
                            notes.append(f"{role[:1]}:{event}({key})@{at:.1f}")
        gc_ms = _gc_in(roles, lo, hi)
        print(f"{row['i']:4d} {row['lat']:6.2f} {cells}  gc={gc_ms} {' '.join(notes[:8])}")
        for kind, conn, t0, t1, t2, t3 in calls:
            if t3 >= lo and t0 <= hi:
                print(
                    f"        db {_KINDS[kind]:5s} conn{conn} @{(t0 - row['t_call']) * 1000:6.2f} "
                    f"acquire {(t1 - t0) * 1000:.2f} fetch {(t2 - t1) * 1000:.2f} "
                    f"release {(t3 - t2) * 1000:.2f}"
                )
    total_gc = {role: sum(1 for _ in events.get("gc_start", [])) for role, events in roles.items()}
    print("gc passes per process over the run:", total_gc)


_KINDS = {1: "lease", 2: "enq", 3: "other"}


def _db_calls(svc: dict) -> list[tuple[int, int, float, float, float, float]]:
    """(kind, connection number, acquire, got, rows, released) per statement call."""
    parts = [svc.get(e, []) for e in ("db_acq", "db_got", "db_rows", "db_rel")]
    return [
        (a[0] // 1000, a[0] % 1000, a[1], b[1], c[1], d[1])
        for a, b, c, d in zip(*parts, strict=True)
    ]


def _db_summary(calls: list, kind: int) -> str:
    fetch = [(c[4] - c[3]) * 1000 for c in calls if c[0] == kind]
    acq = [(c[3] - c[2]) * 1000 for c in calls if c[0] == kind]
    rel = [(c[5] - c[4]) * 1000 for c in calls if c[0] == kind]
    if not fetch:
        return "-"
    return " ".join(
        f"{name} p50/p99/max {pct(xs, 50):.2f}/{pct(xs, 99):.2f}/{max(xs):.2f}"
        for name, xs in (("acquire", acq), ("fetch", fetch), ("release", rel))
    )


def _med(rows: list[dict], c: str) -> str:
    xs = [r[c] for r in rows if r[c] is not None]
    return f"{statistics.median(xs):.2f}" if xs else "-"


def _step(rows: list[dict], a: str, b: str) -> str:
    xs = [r[b] - r[a] for r in rows if r[a] is not None and r[b] is not None]
    if not xs:
        return "-"
    return f"{pct(xs, 50):.2f}/{pct(xs, 99):.2f}/{max(xs):.2f}"


def _gc_in(roles: dict, lo: float, hi: float) -> str:
    parts = []
    for role, events in roles.items():
        starts = events.get("gc_start", [])
        stops = events.get("gc_stop", [])
        for (gen, t0), (_, t1) in zip(starts, stops, strict=False):
            if t1 >= lo and t0 <= hi:
                parts.append(f"{role[:1]}{gen}:{(t1 - t0) * 1000:.2f}ms")
    return ",".join(parts) or "-"


if __name__ == "__main__":
    main()
