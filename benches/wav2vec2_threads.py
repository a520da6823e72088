"""wav2vec2 training step and inference over thread counts, vox vs PyTorch (issue 17).

`wav2vec2_threads.py OUT.md SVG THREADS...` runs, for each thread count and config, vox's
`examples/train_step` on flex and ndarray and its PyTorch twin (`wav2vec2.py torch`) with the
same threads, interleaved, ROUNDS times; writes the section between the `threads:begin` and
`threads:end` markers of OUT.md (a table per thread count, the speed-up against threads, the
determinism check) and the speed-up plot SVG. Not a test: ratios measured side by side.

Env: TRAIN_STEP (the example binary), ROUNDS (default 2), BATCH (default 8), SAMPLES (default
32000), CONFIGS (default "base:12 small:2").
"""
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.environ.get("TRAIN_STEP", "/work/target-wav2vec2/debug/examples/train_step")
ROUNDS = int(os.environ.get("ROUNDS", "2"))
BATCH = int(os.environ.get("BATCH", "8"))
SAMPLES = int(os.environ.get("SAMPLES", "32000"))
CONFIGS = [(c.split(":")[0], int(c.split(":")[1]))
           for c in os.environ.get("CONFIGS", "base:12 small:2").split()]
STEPS = {"base": 2, "small": 5, "large": 2}
BACKENDS = ["flex", "ndarray"]
SIDES = BACKENDS + ["torch"]
BEGIN, END = "<!-- threads:begin", "<!-- threads:end -->"


def measure(cmd, threads):
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd} failed with {os.waitstatus_to_exitcode(status)}")
    row = json.loads(out.strip().splitlines()[-1])
    row["rss_mib"] = usage.ru_maxrss / 1024
    return row


def command(side, name, layers, threads):
    args = [name, str(layers), str(BATCH), str(SAMPLES), str(STEPS[name])]
    if side == "torch":
        return [sys.executable, os.path.join(HERE, "wav2vec2.py"), "torch", *args,
                str(threads), "cpu", "feature-encoder"]
    return [EXAMPLE, name, side, *args[1:], "feature-encoder"]


def median(values):
    return statistics.median(values)


def run(threads_list):
    # results[(name, layers, threads, side)] = list of rows, one per round
    results = {}
    for threads in threads_list:
        for name, layers in CONFIGS:
            for _ in range(ROUNDS):
                for side in SIDES:
                    row = measure(command(side, name, layers, threads), threads)
                    results.setdefault((name, layers, threads, side), []).append(row)
                    print(threads, name, layers, side, json.dumps(row), flush=True)
    return results


def summary(rows, key):
    return median([r[key] for r in rows])


def paired(results, name, layers, threads, side, key):
    """Each round's vox value over the torch value of the same round."""
    vox, tor = results[(name, layers, threads, side)], results[(name, layers, threads, "torch")]
    return [v[key] / t[key] for v, t in zip(vox, tor)]


def svg(results, threads_list, path):
    """Speed-up of the training step against threads (time at 1 thread / time at t), one
    panel per config, a line per side, the ideal line dashed."""
    width, height, pad = 360, 300, 48
    colors = {"flex": "#1f77b4", "ndarray": "#2ca02c", "torch": "#d62728"}
    top = max(threads_list)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width * len(CONFIGS)}" '
             f'height="{height}" font-family="sans-serif" font-size="11">']
    for panel, (name, layers) in enumerate(CONFIGS):
        x0 = panel * width

        def x(t):
            return x0 + pad + (width - 2 * pad) * (t - 1) / max(top - 1, 1)

        def y(s):
            return height - pad - (height - 2 * pad) * (s - 1) / max(top - 1, 1)

        parts.append(f'<text x="{x0 + width / 2}" y="20" text-anchor="middle">{name} '
                     f'({layers} layers): training-step speed-up</text>')
        parts.append(f'<line x1="{x(1)}" y1="{y(1)}" x2="{x(top)}" y2="{y(1)}" stroke="black"/>')
        parts.append(f'<line x1="{x(1)}" y1="{y(1)}" x2="{x(1)}" y2="{y(top)}" stroke="black"/>')
        parts.append(f'<line x1="{x(1)}" y1="{y(1)}" x2="{x(top)}" y2="{y(top)}" '
                     'stroke="gray" stroke-dasharray="4 3"/>')
        for t in threads_list:
            parts.append(f'<text x="{x(t)}" y="{y(1) + 14}" text-anchor="middle">{t}</text>')
            parts.append(f'<text x="{x(1) - 6}" y="{y(t) + 4}" text-anchor="end">{t}</text>')
        parts.append(f'<text x="{x0 + width / 2}" y="{height - 8}" text-anchor="middle">'
                     'threads</text>')
        for i, side in enumerate(SIDES):
            base = summary(results[(name, layers, threads_list[0], side)], "step_s")
            points = [(x(t), y(base / summary(results[(name, layers, t, side)], "step_s")))
                      for t in threads_list]
            path_d = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
            parts.append(f'<polyline points="{path_d}" fill="none" stroke="{colors[side]}" '
                         'stroke-width="2"/>')
            label = "vox " + side if side != "torch" else "PyTorch"
            parts.append(f'<text x="{x(1) + 8}" y="{40 + 14 * i}" fill="{colors[side]}">'
                         f'{label}</text>')
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


def section(results, threads_list, svg_path, started):
    import torch
    import transformers

    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "?")
    lines = [
        f"{BEGIN} (written by benches/wav2vec2-threads.sh; edits here are overwritten) -->",
        "## Thread sweep: the fine-tune step and inference at 1 to all cores",
        "",
        f"Measured {started} to {time.strftime('%H:%M UTC', time.gmtime())} by "
        f"`benches/wav2vec2-threads.sh {' '.join(map(str, threads_list))}` (issue 17; not a "
        f"test). Machine: {cpu}, {os.cpu_count()} CPUs. PyTorch {torch.__version__}, "
        f"transformers {transformers.__version__}, vox `examples/train_step.rs` (dev profile, "
        "burn at opt-level 3).",
        "",
        f"- Work: batch {BATCH} x {SAMPLES} samples, random weights, dropouts off, the conv "
        "feature encoder frozen (the fine-tune stage's default). A *step* is forward through "
        "the cross-entropy loss, backward, and the stage's AdamW update with global-norm "
        "clipping (PyTorch: `torch.optim.AdamW` in the same two groups, `clip_grad_norm_`); "
        "*inference* is a forward pass without an autodiff graph (`no_grad` in PyTorch), as the "
        "predictions after training.",
        f"- Each cell is the median of {ROUNDS} rounds; within a round vox flex, vox ndarray "
        "and PyTorch run back to back in fresh processes with the same thread count "
        "(`RAYON_NUM_THREADS`, `torch.set_num_threads`); *paired* ratios divide each vox "
        "round by the PyTorch round beside it. Ratio = vox time / PyTorch time (below 1: vox "
        "faster). Target (issue 17): step within 1.2x and inference at most 1.0x at every "
        "thread count up to 16. *Busy threads*: vox's CPU time over the timed steps' (and "
        "inference forwards') wall time, the mean number of threads at work; well below the "
        "thread count, threads wait for each other (`benches/wav2vec2-occupancy.sh` shows on "
        "what); near it but slow, they share memory bandwidth or caches. (PyTorch's OpenMP "
        "threads spin while they wait, so its CPU time says nothing of the kind.)",
        "",
    ]
    for threads in threads_list:
        lines += [f"### {threads} thread{'s' if threads > 1 else ''}", "",
                  "| config | side | step s (fwd / bwd / opt) | step ratio (paired) | "
                  "inference s | inference ratio (paired) | busy threads (step / infer) | peak RSS MiB |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, layers in CONFIGS:
            for side in SIDES:
                rows = results[(name, layers, threads, side)]
                step = summary(rows, "step_s")
                parts = " / ".join(f"{summary(rows, k):.3f}"
                                   for k in ("forward_s", "backward_s", "optimizer_s"))
                if side == "torch":
                    step_ratio = infer_ratio = busy = "—"
                    label = "PyTorch"
                else:
                    tor = results[(name, layers, threads, "torch")]
                    sr = paired(results, name, layers, threads, side, "step_s")
                    ir = paired(results, name, layers, threads, side, "infer_s")
                    step_ratio = (f"**{step / summary(tor, 'step_s'):.2f}x** "
                                  f"({', '.join(f'{r:.2f}' for r in sr)})")
                    infer_ratio = (f"**{summary(rows, 'infer_s') / summary(tor, 'infer_s'):.2f}x**"
                                   f" ({', '.join(f'{r:.2f}' for r in ir)})")
                    label = f"vox {side}"
                    busy = (f"{summary(rows, 'steps_busy_threads'):.2f} / "
                            f"{summary(rows, 'infer_busy_threads'):.2f}")
                lines.append(f"| {name} {layers}L | {label} | {step:.3f} ({parts}) | "
                             f"{step_ratio} | {summary(rows, 'infer_s'):.3f} | {infer_ratio} | "
                             f"{busy} | {median([r['rss_mib'] for r in rows]):.0f} |")
        lines.append("")
    first = threads_list[0]
    lines += ["### Speed-up against threads", "",
              f"Training-step time at {first} thread{'s' if first > 1 else ''} over the time at "
              "each count (the ideal equals the thread count), and the same for inference; "
              f"plot: [{os.path.basename(svg_path)}](benches/figures/{os.path.basename(svg_path)}).",
              "", "| config | side | " + " | ".join(f"{t} thr step / infer" for t in threads_list)
              + " |", "|---|---|" + "---|" * len(threads_list)]
    for name, layers in CONFIGS:
        for side in SIDES:
            base = results[(name, layers, first, side)]
            cells = []
            for t in threads_list:
                rows = results[(name, layers, t, side)]
                cells.append(f"{summary(base, 'step_s') / summary(rows, 'step_s'):.2f} / "
                             f"{summary(base, 'infer_s') / summary(rows, 'infer_s'):.2f}")
            label = "PyTorch" if side == "torch" else f"vox {side}"
            lines.append(f"| {name} {layers}L | {label} | " + " | ".join(cells) + " |")
    lines += ["", "### Writing the model after training", "",
              "Seconds to write the trained model, medians over every run of the config: vox "
              "`save_classifier` (the stage's: HF layout, safetensors), transformers' "
              "`save_pretrained` (safetensors, as its Trainer saves) and `torch.save` of the "
              "state dict.", "",
              "| config | vox flex | vox ndarray | save_pretrained | torch.save |",
              "|---|---|---|---|---|"]
    for name, layers in CONFIGS:
        every = {side: [r for t in threads_list for r in results[(name, layers, t, side)]]
                 for side in SIDES}
        lines.append(f"| {name} {layers}L | {summary(every['flex'], 'save_s'):.3f} | "
                     f"{summary(every['ndarray'], 'save_s'):.3f} | "
                     f"{summary(every['torch'], 'save_s'):.3f} | "
                     f"{summary(every['torch'], 'torch_save_s'):.3f} |")
    lines += ["", "### Same bytes at every thread count", "",
              "Weights and input are seeded; after the timed steps each vox run hashes its "
              "inference logits and its head's updated weight (FNV-1a of the f32 bits).", ""]
    for name, layers in CONFIGS:
        for side in BACKENDS:
            hashes = {(r["logits_hash"], r["head_hash"]) for t in threads_list
                      for r in results[(name, layers, t, side)]}
            verdict = ("identical across " + ", ".join(map(str, threads_list)) + " threads"
                       if len(hashes) == 1 else f"DIFFER: {sorted(hashes)}")
            lines.append(f"- {name} {layers}L, vox {side}: {verdict}.")
    lines += ["", END]
    return lines


def main():
    out_md, svg_path, threads_list = sys.argv[1], sys.argv[2], [int(t) for t in sys.argv[3:]]
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results = run(threads_list)
    svg(results, threads_list, svg_path)
    lines = section(results, threads_list, svg_path, started)
    text = open(out_md).read() if os.path.exists(out_md) else ""
    if BEGIN in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1] if END in rest else ""
        text = head + "\n".join(lines) + tail
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n"
    with open(out_md, "w") as f:
        f.write(text)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
