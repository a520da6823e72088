#!/usr/bin/env python3
"""Summarizes cubecl's profiling log of `train_step` runs (benches/gpu-kernels.sh).

cubecl (CUBECL_DEBUG_OPTION=profile, CUBECL_DEBUG_LOG=FILE) times every kernel launch and, at
each backend sync, prints a table of the launches since the last one by kernel name.
`train_step` syncs after the forward, after the backward and after the optimizer's update, so
a step is three tables; the last three of a log are the last step's.

    cube_profile.py LOG                 launches and time per phase of the last step, and the
                                        kernels by time
    cube_profile.py LOG LOG_MORE LAYERS per phase also what LAYERS more encoder layers add
                                        (LOG_MORE: the same run with LAYERS more layers), by
                                        kernel name

Plain Python (no packages), so it runs on any machine the benchmark does.
"""
import re
import sys

PHASES = ("forward", "backward", "optimizer")
RUNTIMES = {"WgpuRuntime", "CudaRuntime", ""}


def seconds(text):
    m = re.match(r"^([0-9.]+)([a-zµ]*)s$", text)
    if not m:
        return None
    return float(m.group(1)) * {"": 1, "m": 1e-3, "µ": 1e-6, "n": 1e-9}[m.group(2)]


def tables(path):
    """Each summary table of the log: {kernel name: (launches, seconds)}."""
    rows = None
    for line in open(path, encoding="utf-8", errors="replace"):
        if line.startswith("| Name"):
            rows = {}
            continue
        if rows is None:
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == "Total":
            yield rows
            rows = None
            continue
        if len(cells) >= 4 and seconds(cells[-3]) is not None:
            name = " | ".join(c for c in cells[:-3] if c not in RUNTIMES)
            # A matmul's name lists every generic argument; its kind is enough here.
            name = "MatmulEntry" if name.startswith("MatmulEntry") else name[:80]
            launches, time = rows.get(name, (0, 0.0))
            rows[name] = (launches + int(cells[-2]), time + seconds(cells[-3]))


def last_step(path):
    found = list(tables(path))
    if len(found) < 3:
        sys.exit(f"{path}: {len(found)} profile tables, a step needs 3 (was it run with "
                 "CUBECL_DEBUG_OPTION=profile?)")
    return found[-3:]


def totals(table):
    return sum(n for n, _ in table.values()), sum(t for _, t in table.values())


def main():
    step = last_step(sys.argv[1])
    print("| phase | launches | kernel time ms |")
    print("|---|---|---|")
    for phase, table in zip(PHASES, step):
        n, t = totals(table)
        print(f"| {phase} | {n} | {t * 1e3:.2f} |")
    n, t = (sum(x) for x in zip(*(totals(table) for table in step)))
    print(f"| step | {n} | {t * 1e3:.2f} |")
    merged = {}
    for table in step:
        for name, (k, s) in table.items():
            a, b = merged.get(name, (0, 0.0))
            merged[name] = (a + k, b + s)
    print("\nKernels of the step by time:\n")
    print("| kernel | launches | ms | share |")
    print("|---|---|---|---|")
    for name, (k, s) in sorted(merged.items(), key=lambda kv: -kv[1][1])[:25]:
        print(f"| {name} | {k} | {s * 1e3:.2f} | {100 * s / t:.1f}% |")
    if len(sys.argv) == 4:
        more, layers = last_step(sys.argv[2]), int(sys.argv[3])
        print(f"\nPer encoder layer (the difference of {layers} more layers, divided):\n")
        print("| phase | launches per layer | kernel ms per layer | most added kernels |")
        print("|---|---|---|---|")
        for phase, a, b in zip(PHASES, step, more):
            (na, ta), (nb, tb) = totals(a), totals(b)
            added = {k: b.get(k, (0, 0))[0] - a.get(k, (0, 0))[0] for k in set(a) | set(b)}
            top = ", ".join(f"{k} {v / layers:g}"
                            for k, v in sorted(added.items(), key=lambda kv: -kv[1])[:4] if v > 0)
            print(f"| {phase} | {(nb - na) / layers:g} | {(tb - ta) * 1e3 / layers:.2f} | {top} |")


main()
