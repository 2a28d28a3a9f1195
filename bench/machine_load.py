"""One JSON line: the machine's load with nothing of the benchmark running (load averages,
cores, share of all cores busy over one second). bench/run_all.sh records it before every
round and after the last, so a table says whether the machine was quiet while it ran.

    python bench/machine_load.py --run-index 1 [--label before]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import emit, machine_load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-index", type=int, default=0)
    parser.add_argument("--label", default="before")
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    record = {"measure": "machine", "peer": "machine", "run": args.run_index}
    record |= {"label": args.label, "at": time.strftime("%H:%M:%S")}
    emit(record | machine_load(args.seconds))


if __name__ == "__main__":
    main()
