#!/usr/bin/env python3
"""torch.mm peer for the GEMM figures of bench/engine.ts.

Reads a JSON list on stdin, one entry per shape class:
  {"threads": T, "products": [[transA, transB, M, N, K], ...]}
and prints one JSON list: the GFLOPS of each class (all its products, float32,
torch.mm on transposed views where transA/transB say so), the median of --reps
timings after one warm-up, with torch.set_num_threads(T).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch


def class_gflops(products: list, threads: int, reps: int) -> float:
    torch.set_num_threads(threads)
    operands = []
    for trans_a, trans_b, m, n, k in products:
        a = torch.rand(k, m).t() if trans_a else torch.rand(m, k)
        b = torch.rand(n, k).t() if trans_b else torch.rand(k, n)
        operands.append((a, b, torch.empty(m, n)))
    flops = sum(2 * m * n * k for _, _, m, n, k in products)
    repeat = max(1, round(4e8 / flops))
    timings = []
    for rep in range(reps + 1):
        started = time.perf_counter()
        for _ in range(repeat):
            for a, b, c in operands:
                torch.mm(a, b, out=c)
        if rep > 0:  # rep 0 warms up
            timings.append(repeat * flops / (time.perf_counter() - started) / 1e9)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    entries = json.load(sys.stdin)
    print(json.dumps([class_gflops(e["products"], e["threads"], args.reps) for e in entries]))


if __name__ == "__main__":
    main()
