"""The fine-tune epoch benchmark of issue 15 (benchmark the user's view first): helper of
benches/gpu-epoch.sh, which says how to run it.

One `vox run` of benches/pipelines/gpu-epoch.toml (a wav2vec2 of XLSR-53's sizes fine-tuned from
scratch for EPOCHS epochs, validation each epoch, predictions for every clip) against the same
work in transformers + PyTorch on the same clips: once with TF32 products (as burn's cuda backend
multiplies f32 matrices) and once under bf16 autocast.

Subcommands (the driver calls them in this order):
  args                          the `--set` arguments of the vox run, one per line, from the env
  measure DIR TIMEOUT -- CMD... runs CMD (stdout, stderr into DIR), sampling the GPU memory of its
                                process every 0.2 s with nvidia-smi; DIR/process.json: wall
                                seconds, exit status, peak RSS, peak GPU memory
  torch DIR PRECISION SPLIT_DIR the PyTorch peer (PRECISION tf32 or bf16) on the split stage's
                                audio set; DIR/result.json
  split-dir VOX_JSON CACHE      the cache folder of the split stage's output
  check-wavs VOX_JSON CACHE     compares the split's samples with the synth's WAV files
  summary OUT                   OUT/summary.md and the block for BENCHMARKS-gpu.md (printed)

The settings come from environment variables (defaults: the GPU run): BACKEND (vox backend,
cuda), DEVICE (torch device, cuda), CLIPS (240), EPOCHS (2), BATCH (8), SAMPLES (60000), LAYERS
(24), HIDDEN (1024), HEADS (16), FFN (4096), CONV_DIM (512, each of the seven convs), LR (1e-4),
WARMUP (0.1), WEIGHT_DECAY (0.01), VAL_FRACTION (0.2), SEED (42), TIMED_STEPS (5), TORCH_MASK
(1: pass the attention mask, as transformers' XLSR feature extractor returns one),
TORCH_CHECKPOINT (1: save model + best model + optimizer state each epoch, as vox does).
"""
import csv
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

# XLSR-53's feature encoder: kernels and strides of its seven convs.
CONV_KERNEL = [10, 3, 3, 3, 3, 2, 2]
CONV_STRIDE = [5, 2, 2, 2, 2, 2, 2]
# vox's scratch model: positional conv kernel (`SCRATCH_POSITIONAL_KERNEL` in
# stages/wav2vec2/src/finetune.rs); its groups are `heads`.
SCRATCH_POSITIONAL_KERNEL = 16
SAMPLE_RATE = 16000


def setting(name, default, kind=int):
    return kind(os.environ.get(name, default))


def settings():
    s = {
        "backend": os.environ.get("BACKEND", "cuda"),
        "device": os.environ.get("DEVICE", "cuda"),
        "clips": setting("CLIPS", 240),
        "epochs": setting("EPOCHS", 2),
        "batch": setting("BATCH", 8),
        "samples": setting("SAMPLES", 60000),
        "layers": setting("LAYERS", 24),
        "hidden": setting("HIDDEN", 1024),
        "heads": setting("HEADS", 16),
        "ffn": setting("FFN", 4096),
        "conv_dim": setting("CONV_DIM", 512),
        "lr": setting("LR", 1e-4, float),
        "warmup": setting("WARMUP", 0.1, float),
        "weight_decay": setting("WEIGHT_DECAY", 0.01, float),
        "val_fraction": setting("VAL_FRACTION", 0.2, float),
        "seed": setting("SEED", 42),
        "timed_steps": setting("TIMED_STEPS", 5),
        "torch_mask": setting("TORCH_MASK", 1) == 1,
        "torch_checkpoint": setting("TORCH_CHECKPOINT", 1) == 1,
    }
    # RAVDESS layout: each actor speaks 7 emotions at 2 intensities plus neutral at one, each
    # `statements x repetitions` times: 60 clips per actor with 2 x 2, 15 with 1 x 1.
    per_actor = 60 if s["clips"] >= 60 else 15
    s["statements"] = s["repetitions"] = 2 if per_actor == 60 else 1
    s["actors"] = min(24, max(1, math.ceil(s["clips"] / per_actor)))
    # Every clip at least SAMPLES long, so that each batch is BATCH x SAMPLES with no padding.
    s["duration"] = round(max(1.0, s["samples"] / SAMPLE_RATE + 0.25), 3)
    return s


def vox_args(s):
    sets = {
        "data.actors": s["actors"], "data.statements": s["statements"],
        "data.repetitions": s["repetitions"], "data.duration": s["duration"],
        "padded.length": s["samples"], "split.val_fraction": s["val_fraction"],
        "pipeline.seed": s["seed"],
        "w2v.backend": s["backend"], "w2v.epochs": s["epochs"], "w2v.batch_size": s["batch"],
        "w2v.hidden_size": s["hidden"], "w2v.layers": s["layers"], "w2v.heads": s["heads"],
        "w2v.intermediate_size": s["ffn"], "w2v.conv_dim": ",".join([str(s["conv_dim"])] * 7),
        "w2v.lr": s["lr"], "w2v.warmup_ratio": s["warmup"], "w2v.weight_decay": s["weight_decay"],
    }
    out = []
    for key, value in sets.items():
        out += ["--set", f"{key}={value}"]
    return out


# ---------------------------------------------------------------------------------------------
# measure: one process, its wall time, peak RSS and peak GPU memory.

def smi(query):
    try:
        out = subprocess.run(["nvidia-smi", f"--query-{query}", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return [[c.strip() for c in line.split(",")] for line in out.strip().splitlines() if line.strip()]


def measure(directory, timeout, cmd):
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    have_smi = shutil.which("nvidia-smi") is not None
    baseline = None
    if have_smi:
        rows = smi("gpu=memory.used")
        baseline = sum(float(r[0]) for r in rows) if rows else None
    start = time.time()
    with open(directory / "stdout", "w") as out, open(directory / "stderr", "w") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, start_new_session=True)
    samples = {"pid_max_mib": None, "device_max_mib": None, "count": 0}
    stop = threading.Event()

    def sample():
        # The process's own row (`--query-compute-apps`), and the whole device's used memory as
        # a fallback where the pids nvidia-smi reports are another namespace's.
        with open(directory / "nvidia-smi.csv", "w") as log:
            while not stop.is_set():
                t = time.time() - start
                apps = [r for r in smi("compute-apps=pid,used_memory") or [] if len(r) == 2]
                gpu = smi("gpu=memory.used") or []
                mine = [float(m) for p, m in apps if p == str(proc.pid) and m.replace(".", "").isdigit()]
                if mine:
                    samples["pid_max_mib"] = max(samples["pid_max_mib"] or 0.0, max(mine))
                if gpu:
                    used = sum(float(r[0]) for r in gpu)
                    samples["device_max_mib"] = max(samples["device_max_mib"] or 0.0, used)
                samples["count"] += 1
                log.write(f"{t:.2f},{';'.join(f'{p}:{m}' for p, m in apps)},"
                          f"{';'.join(r[0] for r in gpu)}\n")
                stop.wait(max(0.0, 0.2 - (time.time() - start - t)))

    sampler = threading.Thread(target=sample, daemon=True) if have_smi else None
    if sampler:
        sampler.start()
    timed_out = False

    def kill():
        nonlocal timed_out
        timed_out = True
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            time.sleep(10)
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    timer = threading.Timer(timeout, kill)
    timer.daemon = True
    timer.start()
    _, status, usage = os.wait4(proc.pid, 0)
    timer.cancel()
    wall = time.time() - start
    stop.set()
    if sampler:
        sampler.join()
    result = {
        "cmd": cmd, "wall_s": wall, "exit": os.waitstatus_to_exitcode(status),
        "timed_out": timed_out, "timeout_s": timeout, "peak_rss_mib": usage.ru_maxrss / 1024,
        "gpu_pid_peak_mib": samples["pid_max_mib"],
        "gpu_device_peak_mib": (samples["device_max_mib"] - baseline
                                if samples["device_max_mib"] is not None and baseline is not None
                                else None),
        "gpu_samples": samples["count"], "nvidia_smi": have_smi,
    }
    (directory / "process.json").write_text(json.dumps(result, indent=1))
    print(f"{cmd[0]}: exit {result['exit']}{' (timed out)' if timed_out else ''} in {wall:.1f} s",
          file=sys.stderr)
    return result["exit"]


# ---------------------------------------------------------------------------------------------
# The audio set the split stage wrote (manifest.csv + audio.f32), read as the fine-tune reads it.

def split_dir(vox_json, cache, stage="split"):
    doc = json.load(open(vox_json))
    key = next(s["key"] for s in doc["stages"] if s["name"] == stage)
    return Path(cache) / "entries" / key[:2] / key / "out"


def check_wavs(vox_json, cache, count=3):
    """That the split's samples are the synth's WAVs (16-bit PCM at 16 kHz, so decoding does
    not resample): the largest difference over `count` clips' first SAMPLES samples."""
    import wave

    import numpy as np

    clips, samples, _ = read_audio_set(split_dir(vox_json, cache))
    files = split_dir(vox_json, cache, "data")
    worst = 0.0
    for clip in clips[:count]:
        with wave.open(str(files / clip["source"])) as w:
            assert w.getsampwidth() == 2 and w.getnchannels() == 1, "16-bit mono expected"
            pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768
        n = min(clip["valid"], len(pcm))
        worst = max(worst, float(np.abs(pcm[:n] - samples[clip["offset"]:clip["offset"] + n]).max()))
    print(f"the split's audio.f32 against the synth's WAVs ({count} clips, stdlib wave): "
          f"max abs difference {worst:.3g}")


def read_audio_set(directory):
    import numpy as np

    directory = Path(directory)
    clips = list(csv.DictReader(open(directory / "manifest.csv", newline="")))
    samples = np.fromfile(directory / "audio.f32", dtype="<f4")
    label_order = []
    if (directory / "classes.csv").exists():
        rows = list(csv.DictReader(open(directory / "classes.csv", newline="")))
        name = next(k for k in rows[0] if k in ("name", "class", "label")) if rows else None
        label_order = [r[name] for r in rows] if name else []
    for clip in clips:
        length, original = int(clip["length"]), int(clip["original_length"] or 0)
        # vox's `valid_length`: the original length when the set was padded, at most the stored.
        clip["valid"] = min(original if original else length, length)
        clip["offset"] = int(clip["offset"])
    # The model's classes: the train split's labels in the label set's order (vox's
    # `train_classes`).
    train_labels = {c["label"] for c in clips if c["split"] == "train" and c["label"]}
    order = label_order or sorted(train_labels)
    classes = [name for name in order if name in train_labels]
    return clips, samples, classes


def normalized_batch(clips, samples, indices):
    """vox's `padded_batch`: each clip's valid samples scaled to zero mean and unit (population)
    variance in f64, `(x - mean) / sqrt(var + 1e-7)`, zero padding to the longest clip."""
    import numpy as np

    lengths = [clips[i]["valid"] for i in indices]
    width = max(lengths)
    out = np.zeros((len(indices), width), dtype=np.float32)
    mask = np.zeros((len(indices), width), dtype=np.int64)
    for row, (i, n) in enumerate(zip(indices, lengths)):
        x = samples[clips[i]["offset"]:clips[i]["offset"] + n].astype(np.float64)
        mean = x.mean()
        var = ((x - mean) ** 2).mean()
        out[row, :n] = ((x - mean) / math.sqrt(var + 1e-7)).astype(np.float32)
        mask[row, :n] = 1
    return out, mask


def macro_f1(probabilities, targets, classes):
    """vox's `metrics::score`: per-class F1 over the model's classes, 0 where undefined."""
    tp, fp, fn = [0] * classes, [0] * classes, [0] * classes
    correct, loss = 0, 0.0
    for p, t in zip(probabilities, targets):
        predicted = max(range(classes), key=lambda c: (p[c], -c))
        if t is None:
            fp[predicted] += 1
            loss -= math.log(1e-12)
            continue
        loss -= math.log(max(p[t], 1e-12))
        if predicted == t:
            correct += 1
            tp[t] += 1
        else:
            fp[predicted] += 1
            fn[t] += 1
    f1 = sum(2 * tp[c] / d if (d := 2 * tp[c] + fp[c] + fn[c]) else 0.0 for c in range(classes))
    n = max(1, len(probabilities))
    return {"macro_f1": f1 / classes, "accuracy": correct / n, "loss": loss / n}


# ---------------------------------------------------------------------------------------------
# The PyTorch peer.

def torch_config(s, classes):
    """transformers' Wav2Vec2Config of vox's scratch model (`FineTune::scratch_config`)."""
    from transformers import Wav2Vec2Config

    return Wav2Vec2Config(
        hidden_size=s["hidden"], num_hidden_layers=s["layers"], num_attention_heads=s["heads"],
        intermediate_size=s["ffn"], conv_dim=[s["conv_dim"]] * 7, conv_kernel=CONV_KERNEL,
        conv_stride=CONV_STRIDE, conv_bias=True, feat_extract_norm="layer",
        do_stable_layer_norm=True, num_conv_pos_embeddings=SCRATCH_POSITIONAL_KERNEL,
        num_conv_pos_embedding_groups=s["heads"], classifier_proj_size=s["hidden"],
        hidden_dropout=0.1, attention_dropout=0.1, activation_dropout=0.1, feat_proj_dropout=0.0,
        final_dropout=0.1, layerdrop=0.0, mask_time_prob=0.0, mask_feature_prob=0.0,
        hidden_act="gelu", layer_norm_eps=1e-5,
        num_labels=len(classes), id2label=dict(enumerate(classes)),
        label2id={c: i for i, c in enumerate(classes)})


def dense_tanh(model, config):
    """The reference notebook's head (vox `head = "dense-tanh"`) on transformers' model: the
    masked mean of the last hidden states, dropout, dense, tanh, dropout, out projection.
    transformers applies `projector` per frame before its masked mean and `classifier` after."""
    import torch

    h, p = config.hidden_size, config.final_dropout
    model.projector = torch.nn.Identity()
    model.classifier = torch.nn.Sequential(
        torch.nn.Dropout(p), torch.nn.Linear(h, h), torch.nn.Tanh(), torch.nn.Dropout(p),
        torch.nn.Linear(h, config.num_labels))
    return model


def torch_peer(directory, precision, split):
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    s = settings()
    import numpy as np
    import torch
    import transformers
    from transformers import Wav2Vec2ForSequenceClassification

    device = torch.device(s["device"])
    cuda = device.type == "cuda"
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    if not cuda:
        torch.set_num_threads(int(os.environ.get("THREADS", os.cpu_count())))
    autocast = precision == "bf16"

    def sync():
        if cuda:
            torch.cuda.synchronize()

    # The CUDA context first (vox opens its device at plan time, before the stage starts).
    if cuda:
        torch.zeros(1, device=device)
        sync()
        torch.cuda.reset_peak_memory_stats()
    stage_start = time.perf_counter()
    clips, samples, classes = read_audio_set(split)
    target = {c: i for i, c in enumerate(classes)}
    targets = [target.get(c["label"]) for c in clips]
    train = [i for i, c in enumerate(clips) if c["split"] == "train" and targets[i] is not None]
    val = [i for i, c in enumerate(clips) if c["split"] == "val"]

    torch.manual_seed(s["seed"])
    build_start = time.perf_counter()
    config = torch_config(s, classes)
    # Built on the CPU and moved, as transformers' examples and Trainer do.
    model = dense_tanh(Wav2Vec2ForSequenceClassification(config), config).to(device)
    model.freeze_feature_encoder()
    sync()
    model_build_s = time.perf_counter() - build_start
    # As the fine-tune stage (and transformers' Trainer): biases and norms never decay.
    norms = (torch.nn.LayerNorm, torch.nn.GroupNorm)
    no_decay_ids = {id(p) for m in model.modules() if isinstance(m, norms)
                    for p in m.parameters(recurse=False)}
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decay = [p for n, p in trainable if not (n.endswith("bias") or id(p) in no_decay_ids)]
    no_decay = [p for n, p in trainable if n.endswith("bias") or id(p) in no_decay_ids]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": s["weight_decay"]},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=s["lr"], betas=(0.9, 0.999), eps=1e-8)
    batches = math.ceil(len(train) / s["batch"])
    total = batches * s["epochs"]
    warmup = math.ceil(s["warmup"] * total)

    def schedule(step):  # get_linear_schedule_with_warmup = vox's LinearWarmupDecay
        if step < warmup:
            return step / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    trainable_params = [p for _, p in trainable]
    counts = {"trainable": sum(p.numel() for p in trainable_params),
              "frozen": sum(p.numel() for p in model.parameters() if not p.requires_grad)}

    def to_device(indices):
        x, mask = normalized_batch(clips, samples, indices)
        x = torch.from_numpy(x).to(device, non_blocking=True)
        mask = torch.from_numpy(mask).to(device, non_blocking=True) if s["torch_mask"] else None
        return x, mask

    def forward(x, mask):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            return model(x, attention_mask=mask).logits

    def predict(indices):
        """Softmax probabilities in order of valid length (as vox's `predict`), no autodiff."""
        model.eval()
        order = sorted(range(len(indices)), key=lambda k: (clips[indices[k]]["valid"], k))
        out = [None] * len(indices)
        with torch.no_grad():
            for b in range(0, len(order), s["batch"]):
                chunk = order[b:b + s["batch"]]
                x, mask = to_device([indices[k] for k in chunk])
                probs = torch.softmax(forward(x, mask).float(), dim=1).cpu().numpy()
                for k, row in zip(chunk, probs):
                    out[k] = [float(v) for v in row]
        return out

    generator = torch.Generator().manual_seed(s["seed"])
    history, epochs, step_times = [], [], []
    best_state, best_epoch, best_f1 = None, 0, -1.0
    # Checkpoints and the saved model go to WORK (GBs at XLSR's size), not to the results.
    scratch = Path(os.environ.get("WORK") or directory) / f"torch-{precision}"
    checkpoints = scratch / "checkpoints"
    shutil.rmtree(checkpoints, ignore_errors=True)
    step = 0
    epoch_start = stage_start
    first_step_s = None
    for epoch in range(1, s["epochs"] + 1):
        model.train()
        train_start = time.perf_counter()
        order = [train[k] for k in torch.randperm(len(train), generator=generator).tolist()]
        loss_sum, correct = 0.0, 0
        for b in range(batches):
            chunk = order[b * s["batch"]:(b + 1) * s["batch"]]
            # A few steps of each epoch (after its first) are timed phase by phase, each phase
            # ended by a synchronize; the others run unsynchronized, as a training loop does.
            timed = 1 <= b <= s["timed_steps"]
            first = epoch == 1 and b == 0
            if timed or first:
                sync()
                t0 = time.perf_counter()
            x, mask = to_device(chunk)
            labels = torch.tensor([targets[i] for i in chunk], device=device)
            if timed:
                sync()
                td = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            logits = forward(x, mask)
            loss = torch.nn.functional.cross_entropy(logits.float(), labels)
            if timed:
                sync()
                t1 = time.perf_counter()
            loss.backward()
            if timed:
                sync()
                t2 = time.perf_counter()
            torch.nn.utils.clip_grad_norm_(trainable_params, 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
            # The loss and accuracy of the epoch, as vox sums them (one read per batch).
            loss_sum += loss.item() * len(chunk)
            correct += int((logits.argmax(1) == labels).sum().item())
            if timed:
                sync()
                t3 = time.perf_counter()
                step_times.append({"epoch": epoch, "data_s": td - t0, "forward_s": t1 - td,
                                   "backward_s": t2 - t1,
                                   "optimizer_s": t3 - t2})
            if first:
                sync()
                first_step_s = time.perf_counter() - t0
        sync()
        train_s = time.perf_counter() - train_start
        val_start = time.perf_counter()
        scores = macro_f1(predict(val), [targets[i] for i in val], len(classes)) if val else \
            {"macro_f1": float("nan"), "accuracy": float("nan"), "loss": float("nan")}
        sync()
        val_s = time.perf_counter() - val_start
        checkpoint_start = time.perf_counter()
        improved = best_epoch == 0 or not val or scores["macro_f1"] > best_f1
        if improved:
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            best_epoch, best_f1 = epoch, scores["macro_f1"]
        if s["torch_checkpoint"]:
            # As vox's checkpoint each epoch: the model, the best model, the optimizer state.
            folder = checkpoints / f"checkpoint-{epoch}"
            folder.mkdir(parents=True)
            torch.save(model.state_dict(), folder / "model.pt")
            torch.save(best_state, folder / "best.pt")
            torch.save(optimizer.state_dict(), folder / "optimizer.pt")
            if epoch > 1:
                shutil.rmtree(checkpoints / f"checkpoint-{epoch - 1}")
        sync()
        checkpoint_s = time.perf_counter() - checkpoint_start
        now = time.perf_counter()
        epochs.append({"epoch": epoch, "train_s": train_s, "val_s": val_s,
                       "checkpoint_s": checkpoint_s, "wall_s": now - epoch_start,
                       "steps": batches, "clips": len(train)})
        epoch_start = now
        history.append({"epoch": epoch, "train_loss": loss_sum / len(train),
                        "train_accuracy": correct / len(train), "val_loss": scores["loss"],
                        "val_accuracy": scores["accuracy"], "val_macro_f1": scores["macro_f1"]})
        print(f"torch {precision}: epoch {epoch}/{s['epochs']}: train loss "
              f"{loss_sum / len(train):.4f}, val macro-F1 {scores['macro_f1']:.4f}, "
              f"{len(train) / train_s:.1f} clips/s", file=sys.stderr, flush=True)

    predict_start = time.perf_counter()
    model.load_state_dict(best_state)
    probabilities = predict(list(range(len(clips))))
    sync()
    predict_s = time.perf_counter() - predict_start
    save_start = time.perf_counter()
    model_dir = scratch / "model"
    model.save_pretrained(model_dir)
    with open(directory / "predictions.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file_id", "split", "label", "predicted"] + classes)
        for clip, p in zip(clips, probabilities):
            w.writerow([clip["file_id"], clip["split"], clip["label"],
                        classes[max(range(len(classes)), key=lambda c: (p[c], -c))]]
                       + [f"{v:.6f}" for v in p])
    save_s = time.perf_counter() - save_start
    stage_s = time.perf_counter() - stage_start
    shutil.rmtree(checkpoints, ignore_errors=True)
    shutil.rmtree(model_dir, ignore_errors=True)
    result = {
        "side": f"torch {precision}", "precision": precision, "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if cuda else "cpu",
        "torch": torch.__version__, "transformers": transformers.__version__,
        "attn_implementation": getattr(model.config, "_attn_implementation", None),
        "threads": torch.get_num_threads(),
        "stage_s": stage_s, "model_build_s": model_build_s, "epochs": epochs, "history": history, "best_epoch": best_epoch,
        "first_step_s": first_step_s, "step_times": step_times,
        "predict_s": predict_s, "save_s": save_s, "clips": len(clips), "train_clips": len(train),
        "val_clips": len(val), "classes": classes, "parameters": counts,
        "max_memory_allocated_mib": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
        "max_memory_reserved_mib": torch.cuda.max_memory_reserved() / 2**20 if cuda else None,
        "config": config.to_dict(),
    }
    (directory / "result.json").write_text(json.dumps(result, indent=1, default=str))


# ---------------------------------------------------------------------------------------------
# vox's side, from its log (`-v` stamps each line with the seconds since start), `--json`,
# history.csv and training.txt.

STAMP = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)s\s+(?:\x1b\[[0-9;]*m)?(\w+)")
EPOCH = re.compile(r"epoch (\d+)/(\d+): train loss ([0-9.naNinf]+), val macro-F1 ([0-9.naNinf]+), "
                   r"([0-9.]+) clips/s")


def vox_side(directory, work):
    directory = Path(directory)
    out = {"side": "vox"}
    try:
        doc = json.load(open(directory / "stdout"))
    except (OSError, ValueError) as e:
        out["error"] = f"no --json output ({e})"
        doc = None
    events = []
    for line in open(directory / "stderr", errors="replace"):
        m = STAMP.match(line)
        if m:
            events.append((float(m.group(1)), line.rstrip("\n")))
    out["log_tail"] = [l for _, l in events[-3:]]

    def when(pattern):
        return next((t for t, l in events if re.search(pattern, l)), None)

    start = when(r"running `w2v`")
    epochs, previous = [], start
    for t, line in events:
        m = EPOCH.search(line)
        if m and "w2v" in line:
            k, clips_per_s = int(m.group(1)), float(m.group(5))
            epochs.append({"epoch": k, "train_loss": float(m.group(3)), "val_macro_f1": float(m.group(4)),
                           "clips_per_s": clips_per_s, "stamp": t,
                           "wall_s": t - previous if previous is not None else None})
            previous = t
    out["epochs"] = epochs
    done = when(r"w2v: fine-tuned on")
    finished = when(r"finished `w2v`")
    out["predict_save_s"] = done - epochs[-1]["stamp"] if done is not None and epochs else None
    out["commit_s"] = finished - done if finished is not None and done is not None else None
    if doc:
        stage = next((s for s in doc["stages"] if s["name"] == "w2v"), None)
        out["stage_s"] = stage["seconds"] if stage else None
        out["status"] = stage["status"] if stage else None
        out["stages"] = {s["name"]: (s["status"], s["seconds"]) for s in doc["stages"]}
        key = stage["key"] if stage else None
        entry = Path(work) / "cache" / "entries" / key[:2] / key / "out" if key else None
        if entry and (entry / "history.csv").exists():
            out["history"] = [{k: float(v) for k, v in row.items()}
                              for row in csv.DictReader(open(entry / "history.csv"))]
        if entry and (entry / "predictions.csv").exists():
            out["predicted_clips"] = sum(1 for _ in open(entry / "predictions.csv")) - 1
        if entry and (entry / "config.json").exists():
            out["config"] = json.load(open(entry / "config.json"))
        training = entry / "report" / "training.txt" if entry else None
        if training and training.exists():
            text = training.read_text()
            m = re.search(r"parameters: (\d+) trainable, (\d+) frozen", text)
            if m:
                out["parameters"] = {"trainable": int(m.group(1)), "frozen": int(m.group(2))}
            m = re.search(r"clips: (\d+) train, (\d+) val, (\d+) test", text)
            if m:
                out["train_clips"], out["val_clips"] = int(m.group(1)), int(m.group(2))
    if "history" not in out and epochs:
        out["history"] = [{k: e[k] for k in ("epoch", "train_loss", "val_macro_f1")} for e in epochs]
    return out


# ---------------------------------------------------------------------------------------------
# The summary.

def fmt(value, digits=2):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, str):
        return value
    return f"{value:.{digits}f}"


def ratio(a, b):
    # No ratio of a missing or non-positive value (a first-use overhead can come out negative
    # where noise exceeds it).
    if not all(isinstance(v, (int, float)) and v > 0 for v in (a, b)):
        return ""
    return f"{a / b:.2f}x"


def load(path):
    try:
        return json.load(open(path))
    except (OSError, ValueError):
        return None


def config_differences(vox_config, torch_config):
    """Fields of vox's written config.json that differ from the peer's transformers config."""
    if not vox_config or not torch_config:
        return ["(one of the two configs is missing)"]
    keys = ["hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
            "conv_dim", "conv_kernel", "conv_stride", "conv_bias", "feat_extract_norm",
            "do_stable_layer_norm", "num_conv_pos_embeddings", "num_conv_pos_embedding_groups",
            "hidden_dropout", "attention_dropout", "activation_dropout", "feat_proj_dropout",
            "final_dropout", "layerdrop", "mask_time_prob", "layer_norm_eps", "hidden_act",
            "classifier_proj_size"]
    diffs = []
    for k in keys:
        a, b = vox_config.get(k), torch_config.get(k)
        if isinstance(a, list):
            a = [float(x) for x in a]
            b = [float(x) for x in b] if isinstance(b, list) else b
        elif isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
            a, b = float(a), float(b)
        if a != b:
            diffs.append(f"`{k}` vox {vox_config.get(k)!r}, torch {torch_config.get(k)!r}")
    return diffs


def summary(out):
    out = Path(out)
    s = settings()
    machine = load(out / "machine.json") or {}
    work = machine.get("work", "")
    vox_proc = load(out / "vox" / "process.json") or {}
    vox = vox_side(out / "vox", work) if (out / "vox" / "stderr").exists() else {"error": "not run"}
    sides = [("vox " + s["backend"], vox, vox_proc)]
    if (out / "vox-bf16" / "stderr").exists():
        sides.append((f"vox {s['backend']} bf16", vox_side(out / "vox-bf16", work),
                      load(out / "vox-bf16" / "process.json") or {}))
    for precision in ("tf32", "bf16"):
        proc = load(out / f"torch-{precision}" / "process.json")
        res = load(out / f"torch-{precision}" / "result.json")
        if proc is None and res is None:
            continue
        sides.append((f"torch {precision}", res or {"error": "no result.json"}, proc or {}))
    skipped = (out / "torch-bf16" / "skipped.txt")
    def step_result(folder):
        try:
            return json.loads(open(out / folder / "stdout").read().strip().splitlines()[-1])
        except (OSError, ValueError, IndexError):
            return None

    step_example, step_proc = step_result("vox-step"), load(out / "vox-step" / "process.json")
    step_bf16, step_bf16_proc = step_result("vox-step-bf16"), load(out / "vox-step-bf16" / "process.json")

    def epoch(side, k):
        eps = side.get("epochs") or []
        return next((e for e in eps if e["epoch"] == k), None)

    def train_s(name, side, k):
        e = epoch(side, k)
        if not e:
            return None
        if name.startswith("vox"):
            clips = side.get("train_clips")
            return clips / e["clips_per_s"] if clips and e["clips_per_s"] else None
        return e["train_s"]

    def wall_s(side, k):
        e = epoch(side, k)
        return e["wall_s"] if e else None

    def minus(a, b):
        return a - b if a is not None and b is not None else None

    def history(side, k, key):
        h = side.get("history") or []
        row = next((r for r in h if int(r["epoch"]) == k), None)
        return row[key] if row else None

    def steps(side):
        clips = side.get("train_clips")
        return math.ceil(clips / s["batch"]) if clips else None

    def mean_phase(side, phase, k=None):
        rows = [r for r in side.get("step_times") or [] if k is None or r["epoch"] == k]
        rows = rows or side.get("step_times") or []
        return sum(r[phase] for r in rows) / len(rows) if rows else None

    last = s["epochs"]
    rows = []  # (label, [value per side], digits, ratio?)

    def row(label, values, digits=2, ratios=True):
        rows.append((label, values, digits, ratios))

    names = [n for n, _, _ in sides]
    data = [d for _, d, _ in sides]
    procs = [p for _, _, p in sides]
    row("whole command wall (s) [1]",
        [p.get("wall_s") for p in procs], 1)
    row("fine-tune stage (s) [2]",
        [d.get("stage_s") for d in data], 1)
    for k in range(1, last + 1):
        row(f"epoch {k}: training loop (s) [3]", [train_s(n, d, k) for n, d in zip(names, data)], 2)
    for k in range(1, last + 1):
        label = (f"epoch {k}: wall, with validation + checkpoint (s)" if k > 1 else
                 "epoch 1: wall from stage start, with model build, validation, checkpoint (s)")
        row(label, [wall_s(d, k) for d in data], 2)
    row("model build, in epoch 1's wall (s; vox does not log it)",
        [d.get("model_build_s") for d in data], 2)
    row(f"first-use overhead: epoch 1 wall - epoch {last} wall (s)",
        [minus(wall_s(d, 1), wall_s(d, last)) for d in data], 2)
    row(f"first-use overhead, training loop only: epoch 1 - epoch {last} (s)",
        [minus(train_s(n, d, 1), train_s(n, d, last)) for n, d in zip(names, data)], 2)
    row(f"epoch {last}: validation + checkpoint (s) [4]",
        [minus(wall_s(d, last), train_s(n, d, last)) for n, d in zip(names, data)], 2)
    row(f"epoch {last}: validation (s)",
        [None if n.startswith("vox") else (epoch(d, last) or {}).get("val_s") for n, d in zip(names, data)], 2)
    row(f"epoch {last}: checkpoint save (s)",
        [None if n.startswith("vox") else (epoch(d, last) or {}).get("checkpoint_s") for n, d in zip(names, data)], 2)
    row(f"epoch {last}: train clips/s",
        [(d.get("train_clips") / t) if d.get("train_clips") and (t := train_s(n, d, last)) else None
         for n, d in zip(names, data)], 2, False)
    row(f"epoch {last}: mean step (s; training loop / steps)",
        [(t / steps(d)) if (t := train_s(n, d, last)) and steps(d) else None for n, d in zip(names, data)], 4)
    for phase in ("data", "forward", "backward", "optimizer"):
        row(f"step: {phase} (s) [5]",
            [None if n.startswith("vox") else mean_phase(d, f"{phase}_s", last) for n, d in zip(names, data)], 4)
    row("first step of epoch 1 (s) [5]",
        [d.get("first_step_s") for d in data], 3)
    row("predictions for every clip + model save (s) [6]",
        [d.get("predict_save_s") if n.startswith("vox") else
         (d.get("predict_s", 0) + d.get("save_s", 0) if d.get("predict_s") is not None else None)
         for n, d in zip(names, data)], 2)
    row("storing the cache entry after the stage (s)",
        [d.get("commit_s") if n.startswith("vox") else None for n, d in zip(names, data)], 2, False)
    row("peak GPU memory, nvidia-smi, the process (MiB)", [p.get("gpu_pid_peak_mib") for p in procs], 0)
    row("peak GPU memory, nvidia-smi, whole device - idle (MiB)", [p.get("gpu_device_peak_mib") for p in procs], 0)
    row("torch.cuda.max_memory_allocated / reserved (MiB)",
        [None if n.startswith("vox") or d.get("max_memory_allocated_mib") is None else
         f"{d['max_memory_allocated_mib']:.0f} / {d['max_memory_reserved_mib']:.0f}"
         for n, d in zip(names, data)], 0, False)
    row("peak RSS of the process (MiB)", [p.get("peak_rss_mib") for p in procs], 0)
    for k in range(1, last + 1):
        row(f"epoch {k}: train loss", [history(d, k, "train_loss") for d in data], 4, False)
    for k in range(1, last + 1):
        row(f"epoch {k}: val macro-F1", [history(d, k, "val_macro_f1") for d in data], 4, False)
    row("best epoch (its model predicts)",
        [d.get("best_epoch") if not n.startswith("vox") else
         (max(d.get("history") or [], key=lambda r: r["val_macro_f1"], default={}).get("epoch"))
         for n, d in zip(names, data)], 0, False)

    torch_sides = [i for i, n in enumerate(names) if n.startswith("torch")]
    # Ratios: vox f32 against each torch side, and vox bf16 against torch bf16.
    index = {n: i for i, n in enumerate(names)}
    pairs = [(0, i) for i in torch_sides]
    if f"vox {s['backend']} bf16" in index and "torch bf16" in index:
        pairs.append((index[f"vox {s['backend']} bf16"], index["torch bf16"]))
    header = "| measure | " + " | ".join(names) + " | " + " | ".join(
        f"{names[v]} / {names[t]}" for v, t in pairs) + " |"
    lines = [
        f"# Fine-tune epochs: `vox run` vs transformers + PyTorch, {machine.get('date', '?')}",
        "",
        f"- Machine: {machine.get('gpu', '?')}; {machine.get('cpus', '?')} CPU cores; commit "
        f"`{machine.get('commit', '?')}`; vox `{machine.get('vox', '?')}`; "
        f"torch {data[torch_sides[0]].get('torch', '?') if torch_sides else '?'}, transformers "
        f"{data[torch_sides[0]].get('transformers', '?') if torch_sides else '?'}"
        f" (attention: {data[torch_sides[0]].get('attn_implementation', '?') if torch_sides else '?'}).",
        f"- Work: wav2vec2 from scratch, hidden {s['hidden']}, {s['layers']} layers, {s['heads']} heads, "
        f"FFN {s['ffn']}, seven {s['conv_dim']}-channel convs (XLSR kernels/strides), layer-norm "
        f"feature encoder + pre-LN encoder, positional conv kernel {SCRATCH_POSITIONAL_KERNEL} "
        f"(vox's scratch constant; XLSR-53 has 128), dense-tanh head, frozen feature encoder, "
        f"dropouts 0.1; AdamW (decay {s['weight_decay']} / none on biases and norms), lr {s['lr']}, "
        f"warmup {s['warmup']} then linear decay, global-norm clipping at 1; batch {s['batch']} x "
        f"{s['samples']} samples; {s['epochs']} epochs; "
        f"{vox.get('train_clips', data[torch_sides[0]].get('train_clips') if torch_sides else '?')} train / "
        f"{vox.get('val_clips', data[torch_sides[0]].get('val_clips') if torch_sides else '?')} val clips "
        f"(synth, {s['actors']} actors), validation each epoch, predictions for all "
        f"{data[torch_sides[0]].get('clips', '?') if torch_sides else '?'} clips with the best epoch's model.",
        f"- vox: backend `{s['backend']}`, `RUST_LOG=info vox -v run benches/pipelines/gpu-epoch.toml` "
        f"with the `--set`s in vox/args.txt; data stages run beforehand (cached in the timed run). "
        f"Its training-loop time is train clips / the logged clips/s (1 decimal); the epoch walls come "
        f"from the log's stamps; vox checkpoints model, best model and AdamW state every epoch. "
        f"`bf16` = the same run with `--set w2v.precision=bf16` (the products of the convs and "
        f"linears in bf16, f32 master weights, optimizer, norms and loss).",
        f"- torch: `Wav2Vec2ForSequenceClassification` with the same config, its projector replaced by "
        f"the dense-tanh head, same clips (the split stage's `audio.f32`, normalized as vox does), "
        f"device `{s['device']}`, TF32 on; `bf16` = the same under `torch.autocast(dtype=torch.bfloat16)`. "
        f"attention mask passed: {s['torch_mask']}; checkpoint each epoch (model, best, optimizer): "
        f"{s['torch_checkpoint']}. Each precision in its own process.",
        "",
        header,
        "|---|" + "---|" * (len(names) + len(pairs)),
    ]
    for label, values, digits, ratios in rows:
        cells = [fmt(v, digits) if not isinstance(v, str) else v for v in values]
        extra = [ratio(values[v], values[t]) if ratios else "" for v, t in pairs]
        lines.append(f"| {label} | " + " | ".join(cells) + " | " + " | ".join(extra) + " |")
    lines.append("")
    notes = []
    for n, d, p in sides:
        if d.get("error"):
            notes.append(f"- {n}: {d['error']}")
        if p.get("exit") not in (0, None):
            notes.append(f"- {n}: exit {p['exit']}{' (timed out after ' + str(p['timeout_s']) + ' s)' if p.get('timed_out') else ''}")
        if p.get("nvidia_smi") and p.get("gpu_pid_peak_mib") is None:
            notes.append(f"- {n}: nvidia-smi listed no compute process with its pid "
                         f"({p.get('gpu_samples')} samples); the device-wide row stands in for it")
    for n, d, _ in sides:
        if n.startswith("vox") and d.get("status") not in (None, "ran"):
            notes.append(f"- {n}'s fine-tune stage: {d.get('status')}")
    if vox.get("stages"):
        notes.append("- vox stages in the timed run: " + ", ".join(
            f"{k} {st} {sec:.1f} s" for k, (st, sec) in vox["stages"].items()))
    if vox.get("predicted_clips") is not None:
        notes.append(f"- vox predicted {vox['predicted_clips']} clips")
    if vox.get("parameters") and torch_sides:
        tp = data[torch_sides[0]].get("parameters") or {}
        notes.append(f"- parameters trainable / frozen: vox {vox['parameters']['trainable']} / "
                     f"{vox['parameters']['frozen']}, torch {tp.get('trainable')} / {tp.get('frozen')}")
    if torch_sides:
        diffs = config_differences(vox.get("config"), data[torch_sides[0]].get("config"))
        notes.append("- config.json of vox's model against the peer's config: " +
                     ("same sizes, layout, dropouts and positional conv" if not diffs else "; ".join(diffs)))
    wav_check = out / "vox-data" / "wav-check.txt"
    if wav_check.exists():
        notes.append("- " + wav_check.read_text().strip().splitlines()[-1])
    if skipped.exists():
        notes.append(f"- torch bf16 skipped: {skipped.read_text().strip()}")
    if step_example:
        notes.append(
            f"- vox's step split from `train_step large {s['backend']} {s['layers']} {s['batch']} "
            f"{s['samples']} ... feature-encoder` (stages/wav2vec2/examples/train_step.rs: XLSR "
            f"layout with HF's positional conv 128, projector head, dropouts off, random input; its "
            f"backward is not synchronized on cuda, so queued backward kernels land in its optimizer "
            f"time): step {fmt(step_example.get('step_s'), 4)} s = forward "
            f"{fmt(step_example.get('forward_s'), 4)} + backward {fmt(step_example.get('backward_s'), 4)} "
            f"+ optimizer {fmt(step_example.get('optimizer_s'), 4)} s; inference forward "
            f"{fmt(step_example.get('infer_s'), 4)} s; peak GPU (process) "
            f"{fmt((step_proc or {}).get('gpu_pid_peak_mib'), 0)} MiB")
        if step_bf16:
            notes.append(
                f"- the same with `bf16` products: step {fmt(step_bf16.get('step_s'), 4)} s = forward "
                f"{fmt(step_bf16.get('forward_s'), 4)} + backward {fmt(step_bf16.get('backward_s'), 4)} "
                f"+ optimizer {fmt(step_bf16.get('optimizer_s'), 4)} s; inference forward "
                f"{fmt(step_bf16.get('infer_s'), 4)} s; peak GPU (process) "
                f"{fmt((step_bf16_proc or {}).get('gpu_pid_peak_mib'), 0)} MiB")
        elif step_bf16_proc:
            notes.append(f"- vox's train_step example in bf16: exit {step_bf16_proc.get('exit')}, no result")
    elif step_proc:
        notes.append(f"- vox's train_step example: exit {step_proc.get('exit')}, no result")
    else:
        notes.append("- vox's step is not split into forward / backward / optimizer: the stage logs "
                     "only clips/s per epoch (put `train_step` in BIN for the example's split)")
    footnotes = [
        "[1] vox: the timed `vox run` (start, plan, the data stages found cached, the fine-tune, "
        "storing its entry, the run folder); torch: its process, Python imports and CUDA start included.",
        "[2] vox: the stage's seconds in `--json`; torch: from reading the clips to predictions.csv "
        "written (after the CUDA context is up, as vox opens its device at plan time).",
        "[3] vox: train clips / the logged clips/s (rounded to 0.1 clips/s); the loop's own clock, "
        "before validation. torch: the same loop, timed the same way.",
        "[4] vox does not split validation from its checkpoint (model, best model and AdamW state "
        "written each epoch): epoch wall - training loop. torch: the two rows below.",
        f"[5] torch only: {s['timed_steps']} steps of each epoch after its first, each phase ended "
        f"by a synchronize (mean of epoch {last}'s; data = building the batch and copying it to the "
        "device); the other steps run unsynchronized. vox's stage logs no step split (see the "
        "train_step note).",
        "[6] vox: from its last epoch's log line to its `fine-tuned on` line (model + history "
        "written, every clip scored with the best model, predictions.csv, training.txt); torch: "
        "loading the best state, scoring every clip, save_pretrained, predictions.csv.",
    ]
    lines += footnotes + ["", "Notes:", ""] + notes + [""]
    lines += ["Ratios are vox / torch (time and memory: above 1 = vox slower or larger). "
              "Rows marked vox-only or torch-only have no ratio.", ""]
    text = "\n".join(lines)
    (out / "summary.md").write_text(text)
    print(text)

    # The block for BENCHMARKS-gpu.md.
    tf = next((i for i in torch_sides if names[i] == "torch tf32"), None)
    bf = next((i for i in torch_sides if names[i] == "torch bf16"), None)
    vb = index.get(f"vox {s['backend']} bf16")

    def pick(i, f):
        return f(names[i], data[i], procs[i]) if i is not None else None

    e_last = lambda n, d, p: train_s(n, d, last)
    mem = lambda n, d, p: (p.get("gpu_pid_peak_mib") or p.get("gpu_device_peak_mib")
                           or (p.get("peak_rss_mib") if not p.get("nvidia_smi") else None))
    f1 = lambda n, d, p: history(d, last, "val_macro_f1")
    over = lambda n, d, p: minus(wall_s(d, 1), wall_s(d, last))
    block = [
        "## Fine-tune epochs, `vox run` vs transformers + PyTorch (benches/gpu-epoch.sh)",
        "",
        f"wav2vec2 from scratch (hidden {s['hidden']}, {s['layers']} layers), batch "
        f"{s['batch']} x {s['samples']}, {s['epochs']} epochs, frozen feature encoder; "
        f"epoch = the training loop; overhead = epoch 1 wall - epoch {last} wall; memory = "
        f"nvidia-smi's peak for the process (peak RSS where there is no GPU); F1 = val macro-F1 "
        f"after epoch {last}; vox backend `{s['backend']}`, torch device `{s['device']}`.",
        "",
        "| date (UTC) | commit | GPU | train/val clips | vox epoch s | vox bf16 epoch s | torch TF32 epoch s "
        "| torch bf16 epoch s | vox/TF32 | vox bf16/torch bf16 | first-use overhead vox / TF32 s "
        "| stage s vox / vox bf16 / TF32 / bf16 | peak MiB vox / vox bf16 / TF32 / bf16 "
        "| F1 vox / vox bf16 / TF32 / bf16 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        f"| {machine.get('date', '?')} | `{machine.get('commit', '?')}` | {machine.get('gpu_name', '?')} | "
        f"{vox.get('train_clips', '?')}/{vox.get('val_clips', '?')} | "
        f"{fmt(pick(0, e_last))} | {fmt(pick(vb, e_last))} | {fmt(pick(tf, e_last))} | {fmt(pick(bf, e_last))} | "
        f"{ratio(pick(0, e_last), pick(tf, e_last))} | {ratio(pick(vb, e_last), pick(bf, e_last))} | "
        f"{fmt(pick(0, over), 1)} / {fmt(pick(tf, over), 1)} | "
        f"{fmt(data[0].get('stage_s'), 1)} / {fmt(pick(vb, lambda n, d, p: d.get('stage_s')), 1)} / "
        f"{fmt(pick(tf, lambda n, d, p: d.get('stage_s')), 1)} / "
        f"{fmt(pick(bf, lambda n, d, p: d.get('stage_s')), 1)} | "
        f"{fmt(pick(0, mem), 0)} / {fmt(pick(vb, mem), 0)} / {fmt(pick(tf, mem), 0)} / {fmt(pick(bf, mem), 0)} | "
        f"{fmt(pick(0, f1), 3)} / {fmt(pick(vb, f1), 3)} / {fmt(pick(tf, f1), 3)} / {fmt(pick(bf, f1), 3)} |",
        "",
    ]
    (out / "benchmarks-gpu-block.md").write_text("\n".join(block))
    print("---- paste into BENCHMARKS-gpu.md (history table) ----")
    print("\n".join(block))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "args":
        print("\n".join(vox_args(settings())))
    elif cmd == "measure":
        directory, timeout = args[0], float(args[1])
        rest = args[2:]
        if rest and rest[0] == "--":
            rest = rest[1:]
        sys.exit(measure(directory, timeout, rest))
    elif cmd == "torch":
        torch_peer(args[0], args[1], args[2])
    elif cmd == "check-wavs":
        check_wavs(args[0], args[1])
    elif cmd == "split-dir":
        print(split_dir(args[0], args[1]))
    elif cmd == "summary":
        summary(args[0])
    else:
        sys.exit(f"unknown subcommand {cmd!r}; see the module doc")


if __name__ == "__main__":
    main()
