"""Mutation check: plant each bug of a fixed list and make sure the named tests catch it.

Every mutant is one or more exact edits (a text found exactly once in its file, replaced)
of a rule the tests claim to prove, with the tests that should kill it, so a run takes
minutes, not hours. The edits go into a scratch copy of the working tree (never the tree
itself); the copy is imported as `leaseq` through PYTHONPATH, ahead of the editable
install. A mutant is killed when its tests fail; it survives when they pass.

    .venv/bin/python tools/mutate.py              # every mutant (about 5 minutes)
    .venv/bin/python tools/mutate.py --list       # names and what each plants
    .venv/bin/python tools/mutate.py NAME ...     # some of them
    .venv/bin/python tools/mutate.py --check      # only: every edit still applies

The PostgreSQL tests use LEASEQ_TEST_DATABASE_URL when it is set (else the usual chain).
Exit status 0 when every mutant was killed. `tests/unit/test_mutants.py` runs `--check`'s
logic, so an edit whose text has moved fails the unit tests: re-anchor it here (see
docs/reliability.md, "Mutation check").
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("domain", "ports", "adapters", "app", "sdk")
RUN_TIMEOUT = 600  # seconds for one mutant's tests


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    edits: tuple[tuple[str, str], ...]  # (exact text, replacement)
    tests: tuple[str, ...]  # pytest arguments: node ids, files, -k expressions
    plants: str  # the bug, as a user would notice it


def m(name: str, path: str, old: str, new: str, tests: tuple[str, ...], plants: str) -> Mutant:
    return Mutant(name, path, ((old, new),), tests, plants)


RULES = "tests/contract/test_store_rules.py"
PG = ("-k", "postgres")
MEM = ("-k", "memory or not postgres")

MUTANTS: tuple[Mutant, ...] = (
    # -- the domain's transitions (the memory store applies them) ------------------------
    m(
        "domain-lease-live-at-expiry",
        "domain/lease.py",
        "return now < self.expires_at",
        "return now <= self.expires_at",
        ("tests/unit/test_transitions.py", RULES, *MEM),
        "a lease is still live at the instant it expires",
    ),
    m(
        "domain-retry-dead-one-late",
        "domain/transitions.py",
        "    check_report(task, token, now, sealed)\n    if task.attempts >= task.max_attempts:",
        "    check_report(task, token, now, sealed)\n    if task.attempts > task.max_attempts:",
        ("tests/unit/test_transitions.py", RULES, *MEM),
        "a retry on the last attempt runs the task once more instead of dead-lettering it",
    ),
    m(
        "domain-expiry-dead-one-late",
        "domain/transitions.py",
        "    assert task.lease is not None\n    if task.attempts >= task.max_attempts:",
        "    assert task.lease is not None\n    if task.attempts > task.max_attempts:",
        ("tests/unit/test_transitions.py", RULES, *MEM),
        "an expiry on the last attempt requeues the task instead of dead-lettering it",
    ),
    m(
        "domain-backoff-uncapped",
        "domain/retry.py",
        "return min(self.max_seconds, self.base_seconds * self.factor**exponent)",
        "return self.base_seconds * self.factor**exponent",
        ("tests/unit/test_retry_policy.py", RULES, *MEM),
        "the retry backoff grows past the policy's cap",
    ),
    m(
        "domain-fence-forgets-cancel",
        "domain/transitions.py",
        "    if task.state is TaskState.CANCELLED:\n        raise TaskCancelled(task.id)\n",
        "",
        ("tests/unit/test_transitions.py", RULES, *MEM),
        "the holder of a cancelled task hears lease_lost, not task_cancelled",
    ),
    m(
        "domain-release-spends-attempt",
        "domain/transitions.py",
        "attempts=max(0, task.attempts - 1),",
        "attempts=task.attempts,",
        ("tests/unit/test_transitions.py", "tests/contract/test_store_results.py", *MEM),
        "a graceful release uses up an attempt",
    ),
    m(
        "domain-claim-low-priority-first",
        "domain/claims.py",
        "return (-task.priority, ready_at, task.id)",
        "return (task.priority, ready_at, task.id)",
        ("tests/contract/test_store_priority.py", RULES, *MEM),
        "lower-priority tasks are claimed first (memory store)",
    ),
    m(
        "memory-claims-in-reverse",
        "adapters/memory/store.py",
        "        for task in plan.granted:",
        "        for task in reversed(plan.granted):",
        ("tests/contract/test_store_lease.py", RULES, *MEM),
        "the memory store grants a batch newest first",
    ),
    # -- the PostgreSQL statements ------------------------------------------------------
    m(
        "sql-fence-live-at-expiry",
        "adapters/postgres/queries.py",
        "t.lease_token = :token AND t.state = 'leased'\n      AND t.lease_expires_at > {_NOW}",
        "t.lease_token = :token AND t.state = 'leased'\n      AND t.lease_expires_at >= {_NOW}",
        (RULES, *PG),
        "heartbeat/complete/retry/fail/release accepted at the instant the lease expires",
    ),
    m(
        "sql-report-accepts-expired",
        "adapters/postgres/queries.py",
        "t.lease_token = i.token AND t.state = 'leased'\n          AND t.lease_expires_at > {_NOW}",
        "t.lease_token = i.token AND t.state = 'leased'",
        (RULES, *PG),
        "the batch report (the SDK's results) accepts an expired lease",
    ),
    m(
        "sql-report-backoff-7-days",
        "adapters/postgres/queries.py",
        'COALESCE(i.delay_us * {_MICROS}, {_backoff("i.draw")})',
        "COALESCE(i.delay_us * {_MICROS}, interval '7 days')",
        (RULES, *PG),
        "Retry() without a delay, reported in a batch, waits 7 days",
    ),
    m(
        "sql-backoff-uncapped",
        "adapters/postgres/queries.py",
        "ELSE LEAST(t.retry_max, t.retry_base * power(t.retry_factor, {_EXPONENT}))",
        "ELSE t.retry_base * power(t.retry_factor, {_EXPONENT})",
        (RULES, *PG),
        "the retry backoff grows past the policy's cap (PostgreSQL)",
    ),
    m(
        "sql-retry-dead-one-late",
        "adapters/postgres/queries.py",
        '_RETRY_DEAD = "t.attempts >= t.max_attempts"',
        '_RETRY_DEAD = "t.attempts > t.max_attempts"',
        (RULES, *PG),
        "a retry on the last attempt runs the task once more (PostgreSQL)",
    ),
    m(
        "sql-lease-without-skip-locked",
        "adapters/postgres/queries.py",
        "        ORDER BY t.priority DESC, t.run_at, t.id\n        LIMIT :limit\n"
        "        FOR UPDATE OF t SKIP LOCKED),",
        "        ORDER BY t.priority DESC, t.run_at, t.id\n        LIMIT :limit),",
        ("tests/contract/test_postgres_store.py", "-k", "concurrent"),
        "two concurrent claimers are granted the same task",
    ),
    m(
        "sql-claim-low-priority-first",
        "adapters/postgres/queries.py",
        "        ORDER BY t.priority DESC, t.run_at, t.id\n        LIMIT :limit\n",
        "        ORDER BY t.priority, t.run_at, t.id\n        LIMIT :limit\n",
        ("tests/contract/test_store_priority.py", RULES, *PG),
        "lower-priority tasks are claimed first (PostgreSQL)",
    ),
    m(
        "sql-lapsed-lease-kept-at-expiry",
        "adapters/postgres/queries.py",
        "t.state = 'leased' AND t.lease_expires_at <= {_NOW}\n          AND t.attempts < t.max",
        "t.state = 'leased' AND t.lease_expires_at < {_NOW}\n          AND t.attempts < t.max",
        (RULES, "tests/contract/test_store_lease.py", *PG),
        "a lease that expires exactly now is not claimable again",
    ),
    m(
        "sql-enqueue-delay-ignored",
        "adapters/postgres/queries.py",
        "COALESCE(i.delay_us, 0)",
        "0",
        (RULES, "tests/contract/test_http_time_authority.py", *PG),
        "a task enqueued with a delay is ready at once (PostgreSQL)",
    ),
    # -- the SDK worker and the service -------------------------------------------------
    m(
        "sdk-reports-after-lost-lease",
        "sdk/execution.py",
        "if self.abandoned is not None or outcome is None:",
        "if outcome is None:",
        ("tests/sdk/test_lost_lease.py",),
        "a handler that ran on after its lease was lost has its result reported",
    ),
    Mutant(
        "service-delay-by-own-clock",
        "adapters/http/routes_tasks.py",
        (
            (
                "from typing import Annotated\n",
                "from typing import Annotated\nfrom datetime import UTC, datetime, timedelta\n",
            ),
            (
                "        item.run_at,\n        item.max_attempts,\n",
                "        item.run_at if delay is None\n"
                "        else datetime.now(UTC) + timedelta(hours=1) + delay,\n"
                "        item.max_attempts,\n",
            ),
            ("        item.idempotency_key,\n        delay,\n", "        item.idempotency_key,\n"),
        ),
        ("tests/contract/test_http_time_authority.py",),
        "the service schedules delay_seconds by its own clock, an hour fast",
    ),
    m(
        "service-drops-delay",
        "adapters/http/routes_tasks.py",
        "        item.idempotency_key,\n        delay,\n",
        "        item.idempotency_key,\n",
        ("tests/contract/test_http_time_authority.py",),
        "delay_seconds is ignored: the task is ready at once",
    ),
    # -- the producer features (ADRs 0027-0029) -----------------------------------------
    m(
        "pg-lease-ignores-pause",
        "adapters/postgres/queries.py",
        "WHERE p.queue = :queue AND (p.paused OR p.limited))",
        "WHERE p.queue = :queue AND (false OR p.limited))",
        ("tests/contract/test_store_pause.py", *PG),
        "a paused queue's tasks are still leased by the PostgreSQL store",
    ),
    m(
        "memory-lease-ignores-pause",
        "adapters/memory/store.py",
        "        if self._is_paused(request.queue):",
        "        if False:",
        ("tests/contract/test_store_pause.py", *MEM),
        "a paused queue's tasks are still leased by the memory store",
    ),
    m(
        "sql-enqueue-priority-bound",
        "adapters/postgres/migrations/enqueue_function.py",
        "priority NOT BETWEEN -1000 AND 1000",
        "priority NOT BETWEEN -1000 AND 2000",
        ("tests/contract/test_sql_enqueue.py",),
        "leaseq_enqueue accepts a priority POST /v1/tasks refuses",
    ),
    m(
        "sql-enqueue-no-wakeup",
        "adapters/postgres/migrations/enqueue_function.py",
        "PERFORM pg_notify('leaseq_wakeup', q);",
        "NULL;",
        ("tests/contract/test_sql_enqueue.py", "-k", "wakes"),
        "a task enqueued in SQL wakes no waiting worker at commit",
    ),
    m(
        "pg-watch-marks-nothing",
        "adapters/postgres/producer_queries.py",
        "UPDATE leaseq_tasks t SET awaited = true",
        "UPDATE leaseq_tasks t SET awaited = false",
        ("tests/contract/test_store_awaiting.py", *PG),
        "awaiting a task on PostgreSQL is never woken by its final state",
    ),
    m(
        "schedule-without-fire-key",
        "domain/schedule.py",
        "        idempotency_key=schedule_key(schedule.name, fire_at),\n",
        "        idempotency_key=None,\n",
        ("tests/contract/test_store_schedules.py", "-k", "two_firings"),
        "two replicas firing one fire time enqueue two tasks",
    ),
    m(
        "schedule-back-fills",
        "domain/schedule.py",
        "        fire_at = _latest_at_or_before(now, fire_at, next_after)\n",
        "",
        ("tests/contract/test_store_schedules.py", "-k", "missed"),
        "after an outage a schedule enqueues its oldest missed fire time, not its latest",
    ),
    # -- flow control (ADR 0030) ----------------------------------------------------------
    m(
        "flow-no-per-key-cap",
        "domain/limits.py",
        "if cap is not None and c.key != UNKEYED and per_key.get(c.key, 0) >= cap:",
        "if False:",
        ("tests/contract/test_store_limits.py", "-k", "per_key"),
        "one concurrency key takes every slot of a queue with a per-key cap",
    ),
    m(
        "flow-no-queue-cap",
        "domain/limits.py",
        "budget = min(budget, max(0, limits.concurrency - live.total))",
        "budget = budget",
        ("tests/contract/test_store_limits.py", "-k", "concurrency"),
        "a limited queue grants past its concurrency",
    ),
    m(
        "flow-expired-counts-as-live",
        "domain/claims.py",
        "t.queue == request.queue and t.has_live_lease(now)",
        "t.queue == request.queue and t.state is TaskState.LEASED",
        ("tests/contract/test_store_limits.py", *MEM),
        "an expired lease keeps its slot on the memory store until a sweep",
    ),
    m(
        "pg-flow-expired-counts-as-live",
        "adapters/postgres/flow_queries.py",
        """WHERE t.queue = :queue AND t.state = 'leased' AND t.lease_expires_at > {_NOW}
        GROUP BY t.concurrency_key
    UNION ALL""",
        """WHERE t.queue = :queue AND t.state = 'leased'
        GROUP BY t.concurrency_key
    UNION ALL""",
        ("tests/contract/test_store_limits.py", *PG),
        "an expired lease keeps its slot on PostgreSQL until a sweep",
    ),
    m(
        "pg-flow-no-lock",
        "adapters/postgres/flow_queries.py",
        "FROM leaseq_queues q WHERE q.queue = :queue FOR UPDATE",
        "FROM leaseq_queues q WHERE q.queue = :queue",
        ("tests/concurrency/test_limit_races.py",),
        "two replicas granting on one limited queue at once both see a free slot",
    ),
    m(
        "pg-lease-ignores-limits",
        "adapters/postgres/queries.py",
        "WHERE p.queue = :queue AND (p.paused OR p.limited))",
        "WHERE p.queue = :queue AND (p.paused))",
        ("tests/contract/test_store_limits.py", *PG),
        "the plain lease statement grants on a limited queue, past its limits",
    ),
    m(
        "flow-no-round-robin",
        "domain/limits.py",
        "ranked.append(((-c.priority, turn, last_grant.get(c.key, -1), c.ready_at, c.id), c))",
        "ranked.append(((-c.priority, 0, 0, c.ready_at, c.id), c))",
        ("tests/contract/test_store_limits.py", "-k", "busy"),
        "a key with many old tasks starves a key with a few new ones",
    ),
    m(
        "flow-bucket-without-cap",
        "domain/limits.py",
        "tokens = min(bucket_size(rate), bucket.tokens + float(rate) * (micros / 1_000_000))",
        "tokens = bucket.tokens + float(rate) * (micros / 1_000_000)",
        ("tests/contract/test_store_limits.py", "-k", "rate"),
        "an idle rate-limited queue saves up an unbounded burst",
    ),
    m(
        "pg-flow-bucket-not-saved",
        "adapters/postgres/flow_queries.py",
        "UPDATE leaseq_queues q SET bucket_tokens = :bucket_tokens, bucket_at = :bucket_at,",
        "UPDATE leaseq_queues q SET bucket_tokens = q.bucket_tokens, bucket_at = :bucket_at,",
        ("tests/contract/test_store_limits.py", *PG, "tests/contract/test_store_state_machine.py"),
        "the rate limit never runs out on PostgreSQL",
    ),
)


def mutated(mutant: Mutant, text: str) -> str:
    """The file's text with the mutant's edits; raises ValueError when an edit's text is
    not found exactly once (the code moved: re-anchor the mutant)."""
    for old, new in mutant.edits:
        count = text.count(old)
        if count != 1:
            raise ValueError(f"{mutant.name}: {old!r} occurs {count} times in {mutant.path}")
        text = text.replace(old, new)
    return text


def check_anchors(root: Path = ROOT) -> list[str]:
    """Every mutant applies to `root` and still parses; the problems, if any."""
    problems = []
    for mutant in MUTANTS:
        source = (root / mutant.path).read_text()
        try:
            changed = mutated(mutant, source)
            ast.parse(changed)
        except (ValueError, SyntaxError) as error:
            problems.append(str(error))
            continue
        if changed == source:
            problems.append(f"{mutant.name}: changes nothing")
    names = [mutant.name for mutant in MUTANTS]
    if len(set(names)) != len(names):
        problems.append("two mutants share a name")
    return problems


def scratch_copy(into: Path) -> dict[str, str]:
    """The working tree's files (tracked and new, not ignored) copied into `into`, and an
    import root there that makes `leaseq.<layer>` the copy's own folders."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            target = into / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    package = into / ".mutation-import" / "leaseq"
    package.mkdir(parents=True)
    for layer in LAYERS:
        (package / layer).symlink_to(into / layer, target_is_directory=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(into / ".mutation-import"), str(into)])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def pytest_run(tests: tuple[str, ...], cwd: Path, env: dict[str, str]) -> tuple[int, str, float]:
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-rf"]
    started = time.monotonic()
    try:
        done = subprocess.run(
            [*command, *tests],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return -1, "timed out", time.monotonic() - started
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


def killers(output: str) -> str:
    failed = re.findall(r"^(?:FAILED|ERROR) (.+?)(?: - .*)?$", output, re.MULTILINE)
    return ", ".join(f"`{name.split('::')[-1]}`" for name in failed[:2]) or "(see output)"


def run(selected: list[Mutant]) -> int:
    problems = check_anchors()
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="leaseq-mutants-") as scratch:
        tree = Path(scratch)
        env = scratch_copy(tree)
        probe = "import leaseq.domain, leaseq.sdk; print(leaseq.domain.__file__)"
        where = subprocess.run(
            [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        if not where.startswith(str(tree)):
            print(f"the scratch copy is not what gets imported: {where}", file=sys.stderr)
            return 2
        every = tuple(dict.fromkeys(t for mu in selected for t in mu.tests if t.endswith(".py")))
        code, output, seconds = pytest_run(every, tree, env)
        print(f"baseline: the mutants' test files pass unmutated ({seconds:.0f} s)", flush=True)
        if code != 0:
            print(output[-4000:], file=sys.stderr)
            return 2
        rows, survivors = [], 0
        for mutant in selected:
            path = tree / mutant.path
            original = path.read_text()
            path.write_text(mutated(mutant, original))
            try:
                code, output, seconds = pytest_run(mutant.tests, tree, env)
            finally:
                path.write_text(original)
            verdict = "killed" if code == 1 else "timed out (killed)" if code == -1 else None
            if verdict is None:
                verdict = "SURVIVED" if code == 0 else f"error (exit {code})"
                survivors += 1
                if code != 0:
                    print(output[-3000:], file=sys.stderr)
            by = killers(output) if code == 1 else ""
            rows.append(f"| `{mutant.name}` | {mutant.plants} | {verdict} {by} | {seconds:.0f} |")
            print(rows[-1], flush=True)
    print("\n| mutant | the planted bug | verdict, first tests that failed | s |")
    print("|---|---|---|---|")
    print("\n".join(rows))
    print(f"\n{len(selected) - survivors} of {len(selected)} mutants killed")
    return 0 if survivors == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="mutants to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--check", action="store_true", help="only check that each applies")
    args = parser.parse_args()
    if args.list:
        for mutant in MUTANTS:
            print(f"{mutant.name:34} {mutant.path:32} {mutant.plants}")
        return 0
    if args.check:
        problems = check_anchors()
        print("\n".join(problems) or f"all {len(MUTANTS)} mutants apply")
        return 1 if problems else 0
    by_name = {mutant.name: mutant for mutant in MUTANTS}
    unknown = [name for name in args.names if name not in by_name]
    if unknown:
        parser.error(f"unknown mutants: {', '.join(unknown)}")
    return run([by_name[name] for name in args.names] if args.names else list(MUTANTS))


if __name__ == "__main__":
    sys.exit(main())
