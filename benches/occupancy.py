"""How many of a run's threads are busy, and what runs while the others wait (issue 17's
"find where scaling stops"), from `perf script -F tid,time,ip,sym` with call chains of a
`perf record -k CLOCK_MONOTONIC --call-graph dwarf` of `examples/train_step.rs`.

    python3 benches/occupancy.py PERF_SCRIPT STEP_JSON THREADS RATE

perf samples a running thread once a period (`1 / RATE` of its CPU time) and a sleeping one
never. At each period's middle within the windows `train_step` reports (`steps_window`,
`infer_window`: the timed training steps and inference forwards), a worker thread is busy when
its samples on either side lie at most GAP periods apart (it ran through that point) and the
nearer one is work (not rayon's waiting, the scheduler or a futex). It prints Markdown:

- occupancy: the mean number of busy threads over `THREADS` (100%: every thread worked all
  the time); its product with `THREADS` bounds the speed-up over one thread;
- the share of the time with one thread busy (serial work) and with all busy;
- what ran while threads waited: at each point with `b` of `N` threads busy, each busy
  thread's call path (vox's and burn's functions nearest its sample) is charged `(N - b) / b`
  idle threads; the paths charged most.

Standard library only, so that it runs wherever perf and Python are.
"""

import bisect
import collections
import json
import re
import sys

IDLE = re.compile(
    r"rayon_core|crossbeam|sched_yield|__schedule|finish_task_switch|futex|syscall|_raw_spin"
    r"|do_syscall|entry_SYSCALL|try_to_wake_up|schedule|__x64_sys|exit_to_user|cpuidle|do_idle"
)
KEEP = re.compile(r"(vox_wav2vec2|burn_autodiff::ops|burn_flex::ops|burn_ndarray::ops)::")
PREFIXES = ("vox_wav2vec2::kernels::", "vox_wav2vec2::model::", "vox_wav2vec2::", "burn_flex::ops::",
            "burn_autodiff::ops::")
INTRINSIC = re.compile(r"_mm|splat$|core::core_arch")
GAP = 2.5
HEADER = re.compile(r"^\s*(\d+)\s+(\d+\.\d+):")
TOP = 12


def samples(path):
    """(tid, time, frames leaf first) per sample."""
    current = None
    with open(path, errors="replace") as lines:
        for line in lines:
            header = HEADER.match(line)
            if header:
                if current:
                    yield current
                current = (header.group(1), float(header.group(2)), [])
            elif line.strip() and current is not None:
                parts = line.strip().split(None, 1)
                current[2].append(parts[1] if len(parts) > 1 else "?")
    if current:
        yield current


def short(frame):
    """A frame's name without generic arguments, closures' environments and `(inlined)`."""
    frame = re.sub(r"\{closure[^}]*\}", "closure", frame)
    while True:
        stripped = re.sub(r"<[^<>]*>", "", frame)
        if stripped == frame:
            break
        frame = stripped
    return re.sub(r"\s*\(inlined\)", "", frame).strip()


def path_of(frames):
    """The three vox/burn functions nearest the sample, innermost first, or its leaf."""
    kept = []
    for frame in frames:
        name = short(frame)
        if KEEP.match(name):
            for prefix in PREFIXES:
                name = name.replace(prefix, "")
            if name not in kept:
                kept.append(name)
        if len(kept) == 3:
            break
    if kept:
        return " < ".join(kept)
    # A call chain cut short (perf copies 8 KiB of stack): its three innermost functions,
    # past the SIMD intrinsics inlined into them.
    named = [short(f) for f in frames if not INTRINSIC.match(short(f))]
    return " < ".join(dict.fromkeys(named[:3])) or (short(frames[0]) if frames else "?")


def analyse(all_samples, window, threads, rate):
    lo, hi = window
    period = 1.0 / rate
    inside = [s for s in all_samples if lo - period <= s[1] <= hi + period]
    workers = [tid for tid, _ in collections.Counter(s[0] for s in inside).most_common(threads)]
    # Per worker, its samples in time order: (time, call path or None when waiting).
    timelines = {tid: [] for tid in workers}
    for tid, time, frames in sorted(inside, key=lambda s: s[1]):
        if tid in timelines:
            work = bool(frames) and not IDLE.search(frames[0])
            timelines[tid].append((time, path_of(frames) if work else None))
    times = {tid: [t for t, _ in line] for tid, line in timelines.items()}
    points = max(1, int((hi - lo) / period))
    busy_total = 0
    one = every = 0
    idle_by_path = collections.Counter()
    idle_total = 0
    for i in range(points):
        t = lo + (i + 0.5) * period
        running = []
        for tid in workers:
            # A running thread is sampled about once a period (a VM stretches some gaps to
            # 1.5 periods): samples on both sides of `t` at most GAP periods apart mean it ran
            # through `t`, doing what the nearer one shows; a longer gap, it slept.
            j = bisect.bisect_left(times[tid], t)
            if 0 < j < len(times[tid]) and times[tid][j] - times[tid][j - 1] <= GAP * period:
                k = j if times[tid][j] - t < t - times[tid][j - 1] else j - 1
                if timelines[tid][k][1] is not None:
                    running.append(timelines[tid][k][1])
        b = len(running)
        busy_total += b
        one += b == 1
        every += b == threads
        idle_total += threads - b
        for path in running:
            idle_by_path[path] += (threads - b) / b
    mean_busy = busy_total / points
    return {
        "seconds": hi - lo,
        "points": points,
        "occupancy": mean_busy / threads,
        "mean_busy": mean_busy,
        "one": one / points,
        "all": every / points,
        "idle": idle_total,
        "paths": idle_by_path,
    }


def main():
    perf_script, step_json, threads, rate = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    step = json.loads(open(step_json).read().strip().splitlines()[-1])
    every = list(samples(perf_script))
    for name, key in (("training steps", "steps_window"), ("inference forwards", "infer_window")):
        r = analyse(every, step[key], threads, rate)
        print(f"**{threads} threads, {name}** ({r['seconds']:.2f} s, {r['points']} points {1000 / rate:.1f} ms apart): "
              f"occupancy **{r['occupancy']:.0%}** ({r['mean_busy']:.2f} of {threads} threads busy on average, "
              f"a bound of {r['mean_busy']:.1f}x on the speed-up over one thread); all busy in {r['all']:.0%} "
              f"of the time, one alone in {r['one']:.1%}.")
        print()
        attributed = sum(r["paths"].values())
        if attributed == 0:
            print("No thread waited while another worked.")
            print()
            continue
        print(f"What ran while other threads waited ({attributed / max(r['idle'], 1e-9):.0%} of the idle "
              "thread-time; the rest is when none worked):")
        print()
        print("| share of that idle time | call path (innermost first) |")
        print("|---|---|")
        for path, weight in r["paths"].most_common(TOP):
            print(f"| {weight / attributed:.1%} | `{path[:160]}` |")
        print()


if __name__ == "__main__":
    main()
