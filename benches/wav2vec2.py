"""wav2vec2 forward+backward benchmark helper (issue 5): PyTorch twin and driver.

`wav2vec2.py torch CONFIG LAYERS BATCH SAMPLES STEPS THREADS [DEVICE [FREEZE]]` times
transformers' Wav2Vec2ForSequenceClassification on DEVICE (`cpu`, the default, or `cuda`)
exactly as `examples/train_step.rs` times vox (random weights, dropouts and SpecAugment off,
cross-entropy, backward, AdamW with clipping; then inference forwards under `no_grad`), FREEZE
`none` or `feature-encoder`, and prints the same JSON line.

`wav2vec2.py ops REPEATS THREADS` times single operations at a base step's shapes in PyTorch
exactly as `examples/ops.rs` times them on flex (matrix products, GELU and its backward) and
prints the same JSON lines.

`wav2vec2.py run OUT.md THREADS` runs vox and torch interleaved (same batch, same threads) for
each case, takes each process's peak RSS from os.wait4, and writes the markdown report. The
CPUs are shared, so the report states ratios measured side by side, not absolute speeds.
"""
import json
import os
import platform
import subprocess
import sys
import time

EXAMPLE = "/work/target-wav2vec2/debug/examples/train_step"
OPS_EXAMPLE = "/work/target-wav2vec2/debug/examples/ops"
OPS_REPEATS, OPS_ROUNDS = 10, 2
BATCH, SAMPLES = 2, 32000
# (config, layers, backends, steps).
CASES = [
    ("small", 2, ["flex", "ndarray"], 5),
    ("base", 12, ["flex", "ndarray"], 2),
    ("base", 2, ["flex", "ndarray"], 2),
]
ROUNDS = 2  # vox and torch alternate this many times per case; the best of each is kept


# What the model does about the conv costs, and what profiling found in what remains
# (hand-written: update it with the code).
WHERE_THE_TIME_GOES = """\
How vox computes the hot paths (`stages/wav2vec2/src/model/feature_encoder.rs`,
`positional.rs`, `src/kernels/`):

- Feature encoder: each conv can run as one matrix product, the windows of the channels-last
  input times the weight, so that its backward pass is matrix products too, multi-threaded on
  both CPU backends; burn's own conv backward goes through a transposed conv (single-threaded
  on ndarray). vox uses that form on both CPU backends; cuda keeps burn's conv. The windows
  (im2col) are one operation (`kernels::conv_windows`): on the CPU backends one contiguous copy
  per window and one gathering pass for the gradient; on cuda narrows, reshapes and a
  concatenation.
- Positional conv (kernel 128, 16 groups): on both CPU backends vox's kernel
  (`kernels/grouped_conv.rs`, one autodiff op): per batch item and group, the channels in
  zero-padded rows correlated with the taps 64 output steps at a time in registers; the input
  gradient is the same correlation with the flipped taps, the weight gradient lagged products
  per output channel. burn-flex ran it as im2col + gemm and its input gradient as a
  single-threaded transposed 3-D conv (2.5 ms of a 22 ms small step); on ndarray, whose
  grouped conv backward is single-threaded, vox had run it as batched matrix products over
  128 shifted copies of the input (0.06 s of a 0.10 s small step).
- GELU and the per-channel group norm of base's first conv layer are vox's own operations on
  both CPU backends (a burn backend extension, one autodiff op each; flex and ndarray tensors
  go through the same kernels, `kernels/host.rs`). burn-flex computes GELU with a
  scalar `erff` per element on one thread (see the operations table below), and the group
  norm, composed from a dozen autodiff ops, spent its time in broadcasts that flex walks
  element by element (`StridedIter`, 9% of a base step). vox's GELU is a branch-free rational
  erf and Cephes-style exp, vectorized (AVX-512 or AVX2 picked at run time) and parallel; its
  norm is one parallel pass of f64 sums for the statistics and one for the output.
- Attention's softmax: one vox operation (`kernels::softmax_last`), a pass per row for the
  probabilities and one for their gradient, where burn composes max, subtraction, exp, sum and
  division, each a tensor and an autodiff op (a quarter of the small step on ndarray).
- Matrix products: on CPUs with AVX-512, the CPU backends' 2-D products (the convs as products, the
  encoder's linears, both passes) run on vox's own sgemm (`kernels/sgemm.rs`: B packed in
  384 x 2048 blocks, A in 144 x 384 blocks, a 12 x 32 microkernel holding C's tile in 24 zmm
  registers, parallel over row blocks), about 2.5x the gemm crate's speed and faster than
  PyTorch's on these cores (operations table above). Elsewhere, and for thin products (k or n
  under 128: the small config's, where packing costs as much as the arithmetic), the
  backend's own: burn-flex's gemm with its AVX-512 kernels (`x86-v4`), ndarray's
  matrixmultiply. The encoder's linears run on
  `[batch * time, features]` rows (on 3-D input burn copies the transposed weight in the
  backward and computes the weight gradient per batch item).
- Memory: the vox binary (and `train_step`, which calls the same function) raises glibc's mmap
  and trim thresholds to 1 GiB at start (`vox_api::allocator::keep_freed_memory`). As glibc
  ships, every tensor above its mmap threshold was a fresh mapping unmapped on free, so each
  step faulted its pages in again, zeroed by the kernel: a third of a small step, a sixth of a
  base step, with the same peak RSS either way. (PyTorch under the same settings,
  `GLIBC_TUNABLES`: 7.3 ms per small step instead of 7.3-7.7.)

Before/after, `train_step` built at each step, run alternately on idle CPUs (2026-11-26, 2
threads), seconds per step, lowest-highest of 2-3 rounds:

| build | base 2 layers, flex | base 12 layers, flex | small, flex |
|---|---|---|---|
| before (ea0bde5) | 1.91-1.99 | 3.52 | 0.044-0.047 |
| + gemm AVX-512 (`x86-v4`) | 1.47-1.64 | | |
| + vox's GELU | 1.38-1.50 | | |
| + vox's group norm | 1.11-1.15 | 2.06-2.11 | 0.037 |
| + 2-D linears | | 1.91 | |
| + matrix-form convs on flex at 32 channels | | 1.95-2.01 | 0.022-0.026 |
| + vox's sgemm | | 1.29-1.41 | |
| + sgemm only for k, n >= 128 (221fdac; base 2 layers and small rerun at 16:30) | 0.82-0.86 | 1.41 | 0.021-0.024 |
| + vox's positional conv kernel | 0.71-0.74 | 1.24 | 0.0159-0.0178 |
| + allocator keeps freed memory | 0.53 | 1.04 | 0.0103-0.0115 |
| + conv windows op, one-pass group norm | 0.474-0.477 | | 0.0093-0.0097 |
| + `train_step` inside a rayon pool, as the stage runs | 0.46 | | 0.0076-0.0092 |
| + softmax as one op | | | 0.0066-0.0067 |
| + flipped taps copied in parallel (grouped conv backward) | 0.40 | | |

On ndarray, the same kernels (`kernels/host.rs` since 17:50 UTC) took the small step from
0.10 s to 0.014-0.015 s, base with 2 layers from 2.61-2.68 s to 0.45-0.48 s and base with
12 layers to 1.02 s (same runs, alternating); vox's sgemm for every ndarray product, thin ones
included (matrixmultiply packs both operands too), then 0.0122-0.0125 s per small step,
and 0.0087-0.0090 s with the softmax op.

What is left, after these (`perf` of the small config): the thin products, attention's
batched ones (burn's, per batch item and head) and the linears' (burn-flex's gemm, vox's sgemm
on ndarray); rayon workers going to sleep and waking up (`sched_yield`, context switches);
copies of strided views (the attention heads, reshapes in the backward); the encoder's layer
norms and the residual and bias additions composed from autodiff ops (ndarray's element-wise
`Zip` loops), and autodiff's own bookkeeping."""


def torch_config(name, layers):
    from transformers import Wav2Vec2Config

    kw = dict(num_hidden_layers=layers, num_labels=8, hidden_dropout=0.0, attention_dropout=0.0,
              activation_dropout=0.0, feat_proj_dropout=0.0, final_dropout=0.0, layerdrop=0.0,
              mask_time_prob=0.0, apply_spec_augment=False)
    if name == "large":  # XLSR-53's layout and sizes
        kw.update(hidden_size=1024, num_attention_heads=16, intermediate_size=4096,
                  feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True)
    if name == "small":
        kw.update(hidden_size=64, num_attention_heads=4, intermediate_size=128,
                  conv_dim=[32] * 4, conv_kernel=[10, 3, 3, 3], conv_stride=[5, 4, 4, 4])
    return Wav2Vec2Config(**kw)


def torch_bench(name, layers, batch, samples, steps, threads, device="cpu", freeze="none"):
    import torch
    from transformers import Wav2Vec2ForSequenceClassification

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    # TF32 tensor-core products, as burn's cuda backend (cubecl) does for f32 matrices.
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    model = Wav2Vec2ForSequenceClassification(torch_config(name, layers)).to(device)
    if freeze == "feature-encoder":
        model.freeze_feature_encoder()
    model.eval()  # no dropout / SpecAugment / LayerDrop, gradients still flow
    x = torch.randn(batch, samples, device=device)
    labels = torch.arange(batch, device=device) % 8
    # As the fine-tune stage (and transformers' Trainer): AdamW in two groups (biases and norms
    # never decay; the others at the stage's default weight decay, 0), global-norm clipping at 1.
    no_decay = [p for n, p in model.named_parameters() if p.requires_grad
                and (n.endswith("bias") or "norm" in n)]
    decay = [p for n, p in model.named_parameters() if p.requires_grad
             and not (n.endswith("bias") or "norm" in n)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.0},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=1e-5)

    def sync():
        if device != "cpu":
            torch.cuda.synchronize()

    def step():
        optimizer.zero_grad(set_to_none=True)
        start = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(x).logits, labels)
        loss.item()
        forward = time.perf_counter() - start
        start = time.perf_counter()
        loss.backward()
        sync()
        backward = time.perf_counter() - start
        start = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        sync()
        return forward, backward, time.perf_counter() - start

    # Two warm-up steps, as vox's examples/train_step.rs (its WARM_UP says why).
    step()
    step()
    fw = bw = up = 0.0
    for _ in range(steps):
        f, b, u = step()
        fw, bw, up = fw + f, bw + b, up + u
    with torch.no_grad():
        model(x)
        sync()
        start = time.perf_counter()
        for _ in range(steps):
            model(x)
        sync()
        infer = (time.perf_counter() - start) / steps
        start = time.perf_counter()
        model.wav2vec2.feature_extractor(x)
        sync()
        conv = time.perf_counter() - start
    # Writing the model: as transformers' Trainer does (save_pretrained: safetensors), and
    # torch.save of the state dict.
    import shutil
    import tempfile
    folder = tempfile.mkdtemp()
    start = time.perf_counter()
    model.save_pretrained(folder)
    save = time.perf_counter() - start
    start = time.perf_counter()
    torch.save(model.state_dict(), os.path.join(folder, "state.pt"))
    torch_save = time.perf_counter() - start
    shutil.rmtree(folder)
    print(json.dumps({"step_s": (fw + bw + up) / steps, "forward_s": fw / steps,
                      "backward_s": bw / steps, "optimizer_s": up / steps, "infer_s": infer,
                      "feature_encoder_s": conv, "save_s": save, "torch_save_s": torch_save}))


def torch_ops(repeats, threads):
    """The PyTorch twin of examples/ops.rs: prints {"op", "ms"} JSON lines."""
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(0)

    def time_ms(op):
        op()
        start = time.perf_counter()
        for _ in range(repeats):
            op()
        return (time.perf_counter() - start) * 1e3 / repeats

    for name, m, k, n in [("matmul conv2 6398x1536x512", 6398, 1536, 512),
                          ("matmul conv2 weight grad 1536x6398x512", 1536, 6398, 512),
                          ("matmul ff up 198x768x3072", 198, 768, 3072),
                          ("matmul ff down 198x3072x768", 198, 3072, 768),
                          ("matmul 1024x1024x1024", 1024, 1024, 1024)]:
        a, b = torch.randn(m, k), torch.randn(k, n)
        print(json.dumps({"op": name, "ms": time_ms(lambda: a @ b)}))
    x = torch.randn(2, 6399, 512)
    print(json.dumps({"op": "gelu 2x6399x512",
                      "ms": time_ms(lambda: torch.nn.functional.gelu(x))}))
    print(json.dumps({"op": "gelu backward 2x6399x512",
                      "ms": time_ms(lambda: torch.ops.aten.gelu_backward(x, x))}))


def ops_table(threads, env):
    """Markdown rows: each operation's best of OPS_ROUNDS alternating vox / torch runs."""
    def lines(cmd):
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
        return {row["op"]: row["ms"] for row in map(json.loads, out.strip().splitlines())}

    vox, tor = {}, {}
    for _ in range(OPS_ROUNDS):
        for op, ms in lines([OPS_EXAMPLE, str(OPS_REPEATS)]).items():
            vox[op] = min(ms, vox.get(op, ms))
        for op, ms in lines([sys.executable, __file__, "ops", str(OPS_REPEATS),
                             str(threads)]).items():
            tor[op] = min(ms, tor.get(op, ms))
    rows = []
    for op, ms in vox.items():
        torch_op = op.removesuffix(" burn").removesuffix(" vox")
        torch_ms = tor[torch_op]
        rate = ""
        if op.startswith("matmul"):
            m, k, n = map(int, torch_op.split()[-1].split("x"))
            rate = f" ({2 * m * k * n / ms / 1e6:.0f} vs {2 * m * k * n / torch_ms / 1e6:.0f} GFLOP/s)"
        rows.append(f"| {op} | {ms:.2f} | {torch_ms:.2f} | {ms / torch_ms:.2f}x{rate} |")
    return rows


def measure(cmd, env):
    """Runs cmd, returns (its JSON line, peak RSS in MiB) with the child's own rusage."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed with {proc.returncode}")
    return json.loads(out.strip().splitlines()[-1]), usage.ru_maxrss / 1024


def run(out_md, threads):
    load_start = open("/proc/loadavg").read().split()[:3]
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    best = lambda runs: min(runs, key=lambda r: r[0]["step_s"])
    torch_runs = {}  # (config, layers) -> every torch run: torch does not depend on the backend
    vox_best = []
    for name, layers, backends, steps in CASES:
        rounds = ROUNDS + (layers == 12 or name == "small")  # the noisiest and the cheapest
        for backend in backends:
            vox_cmd = [EXAMPLE, name, backend, str(layers), str(BATCH), str(SAMPLES), str(steps)]
            torch_cmd = [sys.executable, __file__, "torch", name, str(layers), str(BATCH),
                         str(SAMPLES), str(steps), str(threads)]
            vox, paired = [], []
            for _ in range(rounds):
                vox.append(measure(vox_cmd, env))
                torch_runs.setdefault((name, layers), []).append(measure(torch_cmd, env))
                paired.append(vox[-1][0]["step_s"] / torch_runs[(name, layers)][-1][0]["step_s"])
                print(name, layers, backend, vox[-1], torch_runs[(name, layers)][-1], flush=True)
            vox_best.append((name, layers, backend, best(vox), paired))
    rows = [(n, l, b, v, best(torch_runs[(n, l)]), paired)
            for n, l, b, v, paired in vox_best]
    _, import_rss = measure([sys.executable, "-c", "import torch, transformers; "
                             "from transformers import Wav2Vec2ForSequenceClassification; "
                             "print('{}')"], env)
    write_report(out_md, threads, rows, import_rss, load_start, ops_table(threads, env))


def write_report(out_md, threads, rows, import_rss, load_start, ops_rows):
    import torch
    import transformers

    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "?")
    mem = next(l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal"))
    load = open("/proc/loadavg").read().split()[:3]
    lines = [
        "# wav2vec2 forward + backward throughput: vox (burn 0.21) vs PyTorch CPU",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `benches/wav2vec2.sh` "
        "(issue 5's benchmark; not a test).",
        "",
        f"- Machine: {cpu}, {os.cpu_count()} CPUs, {int(mem) // 1024} MiB RAM, "
        f"{platform.system()} {platform.release()}; load average at the start "
        f"{' '.join(load_start)}, at the end {' '.join(load)}"
        + ("." if float(load_start[0]) < os.cpu_count() / 2 else
           " (busy CPUs: torch's threads slow down far more than vox's when the CPUs are "
           "shared, so these ratios understate the gap; rerun on idle CPUs).")
        + " The machine may be shared: the paired ratios show how steady the run was.",
        f"- Threads: {threads} for both (`RAYON_NUM_THREADS={threads}` for burn's flex and "
        f"ndarray backends, `torch.set_num_threads({threads})`).",
        f"- PyTorch {torch.__version__}, transformers {transformers.__version__}; vox "
        "`stages/wav2vec2/examples/train_step.rs` in the workspace dev profile (burn at opt-level 3).",
        f"- Work per step: batch {BATCH} clips x {SAMPLES} samples (2 s at 16 kHz), "
        "`Wav2Vec2ForSequenceClassification` (projector head, 8 labels), random weights, all "
        "dropouts, LayerDrop and SpecAugment 0 (torch in `eval()` mode with gradients on), "
        "cross-entropy loss, backward through every parameter (from 2026-12-05 the step also "
        "holds the stage's AdamW update with clipping; the rows below before that date do not). "
        "One warm-up step, then the mean of N steps (5 small, 2 base) in a fresh process; vox "
        f"and torch processes alternate, {ROUNDS} rounds per case ({ROUNDS + 1} for small); "
        "the best vox round per backend and the best torch round over all of that config's "
        "rounds are kept (torch's work does not depend on vox's backend; the shared CPUs made "
        "single torch rounds vary up to 3x).",
        "- Configs: *small* = hidden 64, 4 heads, ff 128, conv [32,32,32,32] kernels [10,3,3,3] "
        "strides [5,4,4,4]; *base* = wav2vec2-base (hidden 768, 12 heads, ff 3072, 7 convs of "
        "512 channels, group norm, post-LN); the positional conv is HF's default (kernel 128, 16 "
        "groups) in both. Base also runs with 2 transformer layers, to separate the conv stack "
        "from the transformer.",
        "- History: the runs before 2026-11-26 12:08 UTC were made on busy CPUs (load average "
        "4-7 on 2 CPUs), where torch's step took 4.5-5.0 s on base (12 layers) against 0.82 s "
        "on idle CPUs, while vox's took 5.1-5.7 s against 3.55 s; their ratios (e.g. base 12 "
        "layers flex 1.14x at 10:22 UTC, before the conv changes) were artifacts of the load. "
        "Before the feature encoder's convs (and, on ndarray, the positional conv) ran as "
        "matrix products, base on ndarray did not finish 2 layers' warm-up + 1 step within "
        "200 s (burn's conv backward on one core); see the before/after table at the end.",
        "- Peak RSS: each process's own `ru_maxrss` (os.wait4), whole process. Python + "
        f"`import torch, transformers` alone peaks at {import_rss:.0f} MiB; the last column "
        "subtracts it.",
        "",
        "Reproduce: `benches/wav2vec2.sh` (builds the example into /work/target-wav2vec2, "
        "needs /tmp/w2v-venv with torch + transformers).",
        "",
        "| config | layers | backend | vox clips/s | torch clips/s | vox/torch time ratio | "
        "vox fwd / bwd s | torch fwd / bwd s | vox peak RSS MiB | torch peak RSS MiB | "
        "torch RSS - import MiB | paired ratios per round | median paired ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for name, layers, backend, (vox, vox_rss), (tor, tor_rss), paired in rows:
        ratio = vox["step_s"] / tor["step_s"]
        median = sorted(paired)[len(paired) // 2] if len(paired) % 2 else \
            sum(sorted(paired)[len(paired) // 2 - 1:len(paired) // 2 + 1]) / 2
        verdicts.append((name, layers, backend, ratio, median))
        lines.append(
            f"| {name} | {layers} | {backend} | {BATCH / vox['step_s']:.2f} | "
            f"{BATCH / tor['step_s']:.2f} | **{ratio:.2f}x** | {vox['forward_s']:.3f} / "
            f"{vox['backward_s']:.3f} | {tor['forward_s']:.3f} / {tor['backward_s']:.3f} | "
            f"{vox_rss:.0f} | {tor_rss:.0f} | {tor_rss - import_rss:.0f} | "
            f"{', '.join(f'{r:.2f}' for r in paired)} | {median:.2f}x |")
    lines += ["", "Ratio = vox seconds per step / torch seconds per step (1.0 = parity, "
              "higher = vox slower), from the best runs; 'paired ratios' divide each vox round "
              "by the torch round right after it (same load window), showing the noise.", "", "## Target: within 1.5x of PyTorch on CPU", ""]
    for name, layers, backend, ratio, median in verdicts:
        lines.append(f"- {name} ({layers} layers), {backend}: {ratio:.2f}x -> "
                     f"{'met' if ratio <= 1.5 else 'MISSED'} (median paired ratio {median:.2f}x: "
                     f"{'met' if median <= 1.5 else 'missed'})")
    lines.append("- The best-of ratio compares each side's luckiest load window; on loaded "
                 "CPUs the median of the paired rounds (each vox round against the torch round "
                 "right after it) is the steadier of the two. Neither is robust near 1.5x.")
    lines += ["", "## Where the time goes", "",
              "Forward (through the loss) vs backward per step, and the feature encoder (conv "
              "stack) share of one inference forward (no autodiff graph):", "",
              "| config | layers | backend | vox bwd/fwd | torch bwd/fwd | vox conv share of "
              "inference | torch conv share | vox/torch forward | vox/torch backward |",
              "|---|---|---|---|---|---|---|---|---|"]
    for name, layers, backend, (vox, _), (tor, _), _ in rows:
        lines.append(
            f"| {name} | {layers} | {backend} | {vox['backward_s'] / vox['forward_s']:.1f} | "
            f"{tor['backward_s'] / tor['forward_s']:.1f} | "
            f"{vox['feature_encoder_s'] / vox['infer_s']:.0%} | "
            f"{tor['feature_encoder_s'] / tor['infer_s']:.0%} | "
            f"{vox['forward_s'] / tor['forward_s']:.2f}x | "
            f"{vox['backward_s'] / tor['backward_s']:.2f}x |")
    lines += ["", "Reading: 'bwd/fwd' is backward time over forward time within a step; the "
              "last two columns say whether vox loses its time in the forward or in the backward. "
              "The conv share compares the feature encoder alone with a full inference forward "
              "(single runs, noisy on shared CPUs).", ""]
    for name, layers, backend, (vox, _), (tor, _), _ in rows:
        gap = vox["step_s"] - tor["step_s"]
        if gap > 0:
            bwd_part = (vox["backward_s"] - tor["backward_s"]) / gap
            note = (" (over 100%: vox's forward is faster)" if bwd_part > 1 else
                    " (below 0%: vox's backward is faster)" if bwd_part < 0 else "")
            lines.append(f"- {name} ({layers} layers), {backend}: vox is {gap:.3f} s per step "
                         f"slower; the backward accounts for {bwd_part:.0%} of that gap{note}.")
    lines += ["", "## Single operations at a base step's shapes", "",
              f"`examples/ops.rs` on flex against `wav2vec2.py ops` (PyTorch), {threads} threads, "
              f"milliseconds, the best of {OPS_ROUNDS} alternating runs of {OPS_REPEATS} calls "
              "each. `burn` rows are burn-flex's own operations (the gemm 0.19 crate with its AVX-512 "
              "kernels for the products, libm's erff for GELU), `vox` rows vox's kernels "
              "(`stages/wav2vec2/src/kernels/`).", "",
              "| operation | vox ms | torch ms | vox/torch |", "|---|---|---|---|"]
    lines += ops_rows
    lines += ["", WHERE_THE_TIME_GOES, ""]
    # The thread sweep's section (benches/wav2vec2-threads.sh's) and the notes after it: keep
    # them as they stand.
    begin = "<!-- threads:begin"
    old = open(out_md).read() if os.path.exists(out_md) else ""
    if begin in old:
        lines += [begin + old.split(begin, 1)[1].rstrip("\n"), ""]
    with open(out_md, "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    if sys.argv[1] == "torch":
        a = sys.argv[2:]
        device = a[6] if len(a) > 6 else "cpu"
        freeze = a[7] if len(a) > 7 else "none"
        torch_bench(a[0], int(a[1]), int(a[2]), int(a[3]), int(a[4]), int(a[5]), device, freeze)
    elif sys.argv[1] == "ops":
        torch_ops(int(sys.argv[2]), int(sys.argv[3]))
    elif sys.argv[1] == "run":
        run(sys.argv[2], int(sys.argv[3]))
    else:
        raise SystemExit(__doc__)
