"""Helpers of benches/runner.sh: vox JSON checks, the librosa peer, statistics, BENCHMARKS.md.

Subcommands (all results are JSON on stdout or files; runner.sh orchestrates):
  check-run JSON_FILE STAGE=STATUS...   exit 1 unless every named stage has that status
  out-dir JSON_FILE CACHE STAGE          print the cache output folder of STAGE
  librosa LIST_FILE SR LENGTH            time librosa.load(sr) + pad/crop over the listed files
  compare LIST_FILE MANIFEST AUDIO_F32 SR LENGTH N
                                         SNR of librosa's padded clips against vox's, first N files
  report RESULTS_DIR OUT_MD              write the results table and facts as markdown
"""

import json
import os
import statistics
import sys
import time
from pathlib import Path


def load_json(path):
    with open(path) as f:
        return json.load(f)


def check_run(path, expectations):
    """Fail unless each `stage=status` expectation holds in a `vox run --json` document."""
    statuses = {s["name"]: s["status"] for s in load_json(path)["stages"]}
    bad = []
    for item in expectations:
        stage, status = item.split("=")
        if statuses.get(stage) != status:
            bad.append(f"{stage}: expected {status}, got {statuses.get(stage)}")
    if bad:
        sys.exit(f"{path}: " + "; ".join(bad))


def out_dir(path, cache, stage):
    """The `out/` folder of `stage`'s cache entry (cache/entries/<key[:2]>/<key>/out)."""
    key = next(s["key"] for s in load_json(path)["stages"] if s["name"] == stage)
    print(Path(cache) / "entries" / key[:2] / key / "out")


def fit(y, length):
    """Pad with zeros at the end or crop the start, like vox `pad` with its defaults."""
    import numpy as np

    if len(y) >= length:
        return y[:length]
    return np.pad(y, (0, length - len(y)))


def librosa_run(list_file, sr, length):
    """One single-process pass of librosa.load(path, sr) + fit over every listed file."""
    started = time.perf_counter()
    import librosa
    import numpy as np

    files = Path(list_file).read_text().split()
    # librosa imports lazily: load one file first so the timed loop measures decoding only.
    librosa.load(files[0], sr=sr)
    imported = time.perf_counter() - started
    wall0, cpu0 = time.perf_counter(), time.process_time()
    total = 0
    for path in files:
        y, _ = librosa.load(path, sr=sr)
        total += len(fit(y, length))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    assert total == len(files) * length and y.dtype == np.float32
    # A second pass, split into the phases of librosa.load (soundfile read, soxr_hq resample)
    # and the pad, each timed on its own (wall clock, one thread), like vox's example.
    import soundfile

    phases = {"read_s": 0.0, "resample_s": 0.0, "pad_s": 0.0}
    for path in files:
        t0 = time.perf_counter()
        y, native = soundfile.read(path, dtype="float32")
        t1 = time.perf_counter()
        y = librosa.resample(y, orig_sr=native, target_sr=sr, res_type="soxr_hq")
        t2 = time.perf_counter()
        fit(y, length)
        t3 = time.perf_counter()
        phases["read_s"] += t1 - t0
        phases["resample_s"] += t2 - t1
        phases["pad_s"] += t3 - t2
    json.dump({"files": len(files), "loop_wall_s": wall, "loop_cpu_s": cpu,
               "import_s": imported, **phases}, sys.stdout)


def compare(list_file, manifest, audio_f32, sr, length, n):
    """SNR (dB) of vox's padded clips against librosa's (soxr_hq) for the first `n` files."""
    import csv

    import librosa
    import numpy as np

    files = Path(list_file).read_text().split()
    audio = np.memmap(audio_f32, dtype="<f4", mode="r")
    with open(manifest) as f:
        rows = {Path(r["source"]).name: r for r in csv.DictReader(f)}
    snrs = []
    for path in files[:n]:
        row = rows[Path(path).name]
        offset, count = int(row["offset"]), int(row["length"])
        ours = np.asarray(audio[offset:offset + count], dtype=np.float64)
        theirs = fit(librosa.load(path, sr=sr)[0], length).astype(np.float64)
        err = np.sum((ours - theirs) ** 2)
        snrs.append(10 * np.log10(np.sum(theirs ** 2) / err) if err > 0 else float("inf"))
    json.dump({"files": len(snrs), "snr_db_min": min(snrs),
               "snr_db_median": statistics.median(snrs)}, sys.stdout)


def hyperfine_stats(path):
    """Median, p90, mean wall and mean user+sys CPU (ms) of a hyperfine --export-json file."""
    result = load_json(path)["results"][0]
    times = sorted(result["times"])
    p90 = times[min(len(times) - 1, int(round(0.9 * (len(times) - 1))))]
    return {"median": 1000 * statistics.median(times), "p90": 1000 * p90,
            "mean": 1000 * result["mean"], "cpu": 1000 * (result["user"] + result["system"]),
            "runs": len(times), "command": result["command"]}


def fmt(x, digits=1):
    return f"{x:,.{digits}f}"


def report(results_dir, out_md):
    """BENCHMARKS.md from the files runner.sh left in `results_dir`."""
    r = Path(results_dir)
    facts = load_json(r / "facts.json")
    commands = (r / "commands.txt").read_text().rstrip()
    lines = [
        "# Benchmarks (issue 3)",
        "",
        "Generated by `benches/runner.sh` (do not edit by hand: rerun it). Every number is from ONE",
        "run of the script on ONE machine; vox and its peer ran back to back (no-op) or interleaved",
        "round by round (throughput), so read the **ratios**, not the absolute times: this machine",
        "is shared and its load moves the absolute numbers.",
        "",
        "## Machine",
        "",
        f"- date: {facts['date']}",
        f"- vox: `{facts['vox_version']}` at commit `{facts['commit']}`"
        f"{' (working tree dirty)' if facts['dirty'] else ''}, dev profile (`target/debug/vox`)",
        f"- CPU: {facts['cpu']}; `nproc` = {facts['nproc']}; memory {facts['mem']}",
        f"- load average (1, 5, 15 min): before {facts['load_before']}, after {facts['load_after']}",
        f"- kernel: {facts['kernel']}; file system of the temp dir: {facts['fs']}",
        f"- peers: {facts['peers']}",
        "",
    ]

    noop_rows, noop_facts = [], []
    verdicts = []
    for n in facts["sizes"]:
        vox = hyperfine_stats(r / f"vox-noop-{n}.json")
        dvc = hyperfine_stats(r / f"dvc-noop-{n}.json")
        ratio = dvc["median"] / vox["median"]
        noop_rows.append(
            f"| {n} files, 4 stages | {fmt(vox['median'])} | {fmt(vox['p90'])} | {fmt(vox['cpu'])} "
            f"| {fmt(dvc['median'])} | {fmt(dvc['p90'])} | {fmt(dvc['cpu'])} | **{fmt(ratio)}x** |")
        if n == max(facts["sizes"]):
            verdicts.append(("vox no-op rerun under 50 ms (1440 files)",
                             f"median {fmt(vox['median'])} ms", vox["median"] < 50))
            verdicts.append(("vox no-op at least 20x faster than `dvc repro`",
                             f"{fmt(ratio)}x", ratio >= 20))
        noop_facts.append(f"{n}: first fill {fmt(facts['fill'][str(n)], 1)} s (vox), "
                          f"first `dvc repro` {fmt(facts['dvc_first'][str(n)], 1)} s")

    rounds = load_json(r / "throughput.json")
    n_files = rounds["files"]

    def med(key):
        return statistics.median(x[key] for x in rounds["rounds"])

    lib_wall, lib_cpu = med("librosa_wall"), med("librosa_cpu")
    tp_rows = []
    for label, key in (("vox `--jobs 1`", "vox1"), (f"vox default jobs ({facts['nproc']})", "voxd")):
        wall, cpu = med(f"{key}_wall"), med(f"{key}_cpu")
        ratio = lib_wall / wall
        tp_rows.append(
            f"| {label} | {fmt(wall, 2)} | {fmt(n_files / wall)} | {fmt(cpu, 2)} "
            f"| {fmt(med(key + '_audio'), 2)} + {fmt(med(key + '_padded'), 2)} "
            f"| **{fmt(ratio, 2)}x** | {fmt(lib_cpu / cpu, 2)}x |")
        verdicts.append((f"decode + pad at least 5x faster than librosa ({label})",
                         f"{fmt(ratio, 2)}x (wall)", ratio >= 5))
    tp_rows.append(
        f"| librosa 1 process, 1 thread | {fmt(lib_wall, 2)} | {fmt(n_files / lib_wall)} "
        f"| {fmt(lib_cpu, 2)} | - | 1x | 1x |")
    # The in-memory path of both sides, phase by phase (runner.sh's decode_throughput example
    # and bench.py's second librosa pass, same rounds).
    has_inmem = "inmem_wall" in rounds["rounds"][0]
    if has_inmem:
        mem_wall, mem_cpu = med("inmem_wall"), med("inmem_cpu")
        tp_rows.append(
            f"| *additional:* vox in memory, 1 thread (no cache, nothing written) "
            f"| {fmt(mem_wall, 2)} | {fmt(n_files / mem_wall)} | {fmt(mem_cpu, 2)} | - "
            f"| *{fmt(lib_wall / mem_wall, 2)}x* | *{fmt(lib_cpu / mem_cpu, 2)}x* |")
        phase_names = [("read_s", "read the WAV (vox: hound header + one read; librosa: soundfile)"),
                       ("resample_s", "resample 48 -> 16 kHz (vox: rubato FFT; librosa: soxr_hq)"),
                       ("pad_s", "pad to 60000 samples (vox: into a reused buffer, as the stage; numpy: a new array)")]
        phase_rows = []
        for key, label in phase_names:
            ours, theirs = med("inmem_" + key), med("librosa_" + key)
            phase_rows.append(f"| {label} | {fmt(ours, 2)} | {fmt(theirs, 2)} "
                              f"| {fmt(theirs / ours, 2)}x | {fmt(1e6 * ours / n_files, 0)} |")
        for key, label in [("encode_write_s", "vox only: write both sets' `audio.f32` (667 MB)"),
                           ("hash_s", "vox only: blake3 of both sets, 1 thread")]:
            phase_rows.append(f"| {label} | {fmt(med('inmem_' + key), 2)} | - | - "
                              f"| {fmt(1e6 * med('inmem_' + key) / n_files, 0)} |")

    lines += [
        "## Targets",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
    ]
    lines += [f"| {t} | {m} | {'met' if ok else '**MISSED**'} |" for t, m, ok in verdicts]
    missed = [t for t, _, ok in verdicts if not ok]
    lines += [""]
    if missed:
        lines += ["**Missed in this run:** " + "; ".join(missed) + ". See \"Where the time goes\""
                  " and, for the decode target on a machine with many cores, BENCHMARKS-gpu.md"
                  f" (section 3: benches/gpu-check.sh). This machine has {facts['nproc']} cores."]
    else:
        lines += ["All targets met in this run."]
    lines += [
        "",
        "## 1. No-op rerun latency",
        "",
        f"`vox run` of a fully cached pipeline against `dvc repro` of an up-to-date equivalent "
        f"dvc.yaml (same 4 stages, same files as deps/outs). Wall-clock ms over "
        f"{vox['runs']} runs each after warm-up runs (hyperfine); CPU = mean user + system.",
        "",
        "| pipeline | vox median | vox p90 | vox CPU | dvc median | dvc p90 | dvc CPU "
        "| dvc / vox (median) |",
        "|---|---|---|---|---|---|---|---|",
        *noop_rows,
        "",
        "Setup (not timed as no-op): " + "; ".join(noop_facts) + ".",
        "",
        "## 2. Decode + resample + pad throughput",
        "",
        f"{n_files} WAVs (48 kHz 16-bit mono, 3.5 s) to 16 kHz float, padded/cropped to 60000 "
        f"samples. vox: `vox run --force audio --force padded` on a cache that holds the corpus "
        f"(whole command, wall clock: process start, cache checks, decode, resample, pad, writing "
        f"`manifest.csv` + `audio.f32`, blake3 of the outputs, `split` found cached by early "
        f"cutoff). librosa: `librosa.load(path, sr=16000)` (soxr_hq) + numpy pad/crop in one "
        f"process, timed around the loop only (imports and a first load excluded, "
        f"{fmt(statistics.median(x['librosa_import'] for x in rounds['rounds']), 2)} s), nothing "
        f"written. Median of {len(rounds['rounds'])} interleaved rounds, WAVs in the page cache.",
        "",
        "| side | wall s | files/s | CPU s (user+sys) | stage s (decode + pad) | librosa / vox wall "
        "| librosa / vox CPU |",
        "|---|---|---|---|---|---|---|",
        *tp_rows,
        "",
        f"Threads: vox `--jobs N` sizes its rayon pool (per-file work and hashing) to N threads; "
        f"the default is the core count ({facts['nproc']}). librosa runs in one thread "
        f"(OMP/OpenBLAS/MKL/NUMBA thread counts set to 1). Same work check: vox's padded clips "
        f"against librosa's over the first {facts['compare']['files']} files: SNR median "
        f"{fmt(facts['compare']['snr_db_median'])} dB, min {fmt(facts['compare']['snr_db_min'])} dB "
        f"(different band-limiting filters, same signal).",
        "",
    ]
    if has_inmem:
        lines += [
            "**The decoder alone, phase by phase** (same rounds, medians). The *additional* row "
            "above and this table time vox's own functions in one thread without the engine "
            "or the cache: `stages/audio/examples/decode_throughput.rs` calls "
            "`WavBuffers::read_mono`, `Resampler::resample_into` and `Pad::fit_into` (what the "
            "`decode` and `pad` stages do, with buffers reused from file to file as there) over "
            "the same WAVs, keeping nothing; its second pass writes and hashes what the stages "
            "write. librosa's "
            "phases come from a second pass of `bench.py librosa` that calls "
            "`soundfile.read` and `librosa.resample(res_type=\"soxr_hq\")` separately. "
            "Wall seconds of one thread (phase sums; CPU time is in the table above).",
            "",
            f"| phase ({n_files} files) | vox s | librosa s | librosa / vox | vox µs per file |",
            "|---|---|---|---|---|",
            *phase_rows,
            "",
        ]
    profile = r / "profile.md"
    if profile.exists():
        lines += ["## Where the time goes (measured by the script)", "", profile.read_text().rstrip(), ""]
    analysis = Path(__file__).with_name("ANALYSIS.md")
    if analysis.exists():
        lines += [analysis.read_text().rstrip(), ""]
    lines += ["## Exact commands", "", "```sh", commands, "```", ""]
    Path(out_md).write_text("\n".join(lines))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "check-run":
        check_run(args[0], args[1:])
    elif cmd == "out-dir":
        out_dir(*args)
    elif cmd == "librosa":
        librosa_run(args[0], int(args[1]), int(args[2]))
    elif cmd == "compare":
        compare(args[0], args[1], args[2], int(args[3]), int(args[4]), int(args[5]))
    elif cmd == "report":
        report(args[0], args[1])
    else:
        sys.exit(f"unknown subcommand {cmd}")


if __name__ == "__main__":
    main()
