"""The payloads the payload benchmarks send (bench/payload_cost.py, bench/enqueue_cpu.py
--payload). No imports: a benchmark that takes them keeps its own process's heap, which
the garbage collector's cost per task depends on."""

from __future__ import annotations

from typing import Any

SMALL: dict[str, Any] = {"i": 12345}
# an order as a web shop would enqueue it: names, addresses, lines, numbers (817 bytes)
ONE_KB: dict[str, Any] = {
    "order_id": "ord_8f14e45fceea167a5a36dedd4bea2543",
    "customer": {
        "id": 918273,
        "email": "someone@example.com",
        "name": "Ada Lovelace",
        "address": {"street": "12 Analytical Row", "city": "London", "zip": "NW1 6XE"},
    },
    "lines": [
        {"sku": f"SKU-{n:05d}", "title": f"Item number {n}", "qty": n % 3 + 1, "price": 19.99}
        for n in range(8)
    ],
    "currency": "EUR",
    "notes": "leave at the door",
    "created": "2026-12-07T15:00:00Z",
}
TEN_KB: dict[str, Any] = {"orders": [ONE_KB] * 10}  # 8,192 bytes
