"""The transformers side of benches/ssl.sh: SSL feature extraction (every hidden state of a
wav2vec2-family model, mean and std over each clip's valid frames) with transformers + PyTorch,
on the very clips vox reads, batched and normalized as vox's `ssl-states` stage does.

    ssl_peer.py model wav2vec2|wavlm|whisper DIR
        a random base-sized model folder (config.json + model.safetensors; whisper: the
        `openai/whisper-base` layout with its preprocessor_config.json)
    ssl_peer.py peer AUDIO_DIR MODEL_DIR OUT.npy BATCH THREADS
        pooled states of every clip into OUT.npy; prints one JSON line of seconds
    ssl_peer.py compare STATES_DIR PEER.npy
        max |vox - transformers| of the pooled means and stds (one JSON line)

AUDIO_DIR is a vox audio-set folder (`manifest.csv` + `audio.f32`, stages/api/src/audio.rs);
STATES_DIR an `ssl-states` output (`states.json` + `states.f32`, stages/wav2vec2/src/ssl/pooled.rs).
"""

import csv
import json
import os
import sys
import time

import numpy as np


def make_model(family, out):
    import torch
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2Model,
        WavLMConfig,
        WavLMModel,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperModel,
    )

    torch.manual_seed(0)
    # The defaults are the base layouts: hidden 768, 12 layers, 12 heads, FFN 3072, 7 convs of
    # 512 channels, group norm on the first conv, post-LN transformer.
    if family == "wav2vec2":
        model = Wav2Vec2Model(Wav2Vec2Config())
    elif family == "wavlm":
        model = WavLMModel(WavLMConfig())
    elif family == "whisper":
        # openai/whisper-base: width 512, 6 encoder layers of 8 heads, FFN 2048, 80 mel bins.
        config = WhisperConfig(
            d_model=512,
            encoder_layers=6,
            encoder_attention_heads=8,
            encoder_ffn_dim=2048,
            decoder_layers=6,
            decoder_attention_heads=8,
            decoder_ffn_dim=2048,
            num_mel_bins=80,
        )
        model = WhisperModel(config)
        WhisperFeatureExtractor(feature_size=80).save_pretrained(out)
    else:
        sys.exit(f"unknown family {family}")
    model.eval()
    model.save_pretrained(out, safe_serialization=True)


def read_audio(folder):
    """(clips, samples): manifest rows in order, and the flat f32 samples."""
    with open(os.path.join(folder, "manifest.csv"), newline="") as f:
        clips = list(csv.DictReader(f))
    samples = np.fromfile(os.path.join(folder, "audio.f32"), dtype="<f4")
    return clips, samples


def valid_length(clip):
    """vox's `valid_length` (stages/wav2vec2/src/finetune/data.rs): the original length when the
    set was padded after decoding, never more than the stored length."""
    length = int(clip["length"])
    original = int(clip["original_length"] or 0)
    return min(original if original else length, length)


def normalize(x):
    """vox's `normalize_clip` (stages/wav2vec2/src/preprocess.rs), as HF's feature extractor:
    zero mean, unit variance over the valid samples, in f64."""
    x = x.astype(np.float64)
    return ((x - x.mean()) / np.sqrt(x.var() + 1e-7)).astype(np.float32)


def pooled_rows(states, frames):
    """vox's pooled row per clip: for each hidden state, its mean then its population standard
    deviation over the clip's valid frames (`frames` [batch, frames], 1 where valid)."""
    import torch

    counts = frames.sum(1, keepdim=True)
    w = frames.unsqueeze(-1)
    pooled = []
    for h in states:
        mean = (h * w).sum(1) / counts
        var = (((h - mean.unsqueeze(1)) ** 2) * w).sum(1) / counts
        pooled += [mean, var.sqrt()]
    return torch.cat(pooled, 1).cpu().numpy()


def peer(audio_dir, model_dir, out, batch_size, threads, device="cpu"):
    import torch

    torch.set_num_threads(threads)

    if device == "cuda":
        # As vox's cuda backend multiplies f32 in TF32 (BENCHMARKS-gpu.md section 1); the
        # context starts before the clock, as vox opens its device at plan time.
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.zeros(1, device=device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    t0 = time.perf_counter()
    extractor_file = os.path.join(model_dir, "preprocessor_config.json")
    whisper = os.path.exists(extractor_file) and "Whisper" in open(extractor_file).read()
    pool_chunk = (whisper_pooler if whisper else family_pooler)(model_dir, device, sync)
    clips, samples = read_audio(audio_dir)
    t_loaded = time.perf_counter()
    lengths = [valid_length(c) for c in clips]
    # vox's order: by valid length, then manifest position.
    order = sorted(range(len(clips)), key=lambda i: (lengths[i], i))
    rows = [None] * len(clips)
    forward = 0.0
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            audio = [samples[int(clips[i]["offset"]) : int(clips[i]["offset"]) + lengths[i]] for i in chunk]
            flat, seconds = pool_chunk(audio)
            forward += seconds
            for r, i in enumerate(chunk):
                rows[i] = flat[r]
    np.save(out, np.stack(rows))
    t_end = time.perf_counter()
    print(
        json.dumps(
            {
                "seconds": t_end - t0,
                "load_seconds": t_loaded - t0,
                "forward_seconds": forward,
                "clips": len(clips),
                "threads": torch.get_num_threads(),
            }
        )
    )


def family_pooler(model_dir, device, sync):
    """wav2vec2, HuBERT, WavLM: a chunk's clips normalized and padded to the longest, with the
    attention mask; returns (pooled rows, seconds of the forward pass) per chunk."""
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(model_dir).to(device)
    model.eval()

    def pool_chunk(audio):
        width = max(len(a) for a in audio)
        values = np.zeros((len(audio), width), dtype=np.float32)
        mask = np.zeros((len(audio), width), dtype=np.int64)
        for r, a in enumerate(audio):
            values[r, : len(a)] = normalize(a)
            mask[r, : len(a)] = 1
        x, m = torch.from_numpy(values).to(device), torch.from_numpy(mask).to(device)
        t = time.perf_counter()
        states = model(x, attention_mask=m, output_hidden_states=True).hidden_states
        sync()
        seconds = time.perf_counter() - t
        frames = model._get_feature_vector_attention_mask(states[0].shape[1], m).to(states[0].dtype)
        return pooled_rows(states, frames), seconds

    return pool_chunk


def whisper_pooler(model_dir, device, sync):
    """Whisper: the feature extractor on each clip's valid samples (padded to 30 s, not
    normalized, as vox's default), every hidden state of the encoder (the last after its final
    norm, as vox's), mean and std over the clip's own encoder frames."""
    import torch
    from transformers import WhisperFeatureExtractor, WhisperModel

    encoder = WhisperModel.from_pretrained(model_dir).encoder.to(device).eval()
    extractor = WhisperFeatureExtractor.from_pretrained(model_dir)

    def pool_chunk(audio):
        features = extractor(audio, sampling_rate=16000, return_tensors="pt").input_features.to(device)
        t = time.perf_counter()
        out_states = encoder(features, output_hidden_states=True)
        states = list(out_states.hidden_states[:-1]) + [out_states.last_hidden_state]
        sync()
        seconds = time.perf_counter() - t
        n = torch.tensor([(-(-len(a) // 160) - 1) // 2 + 1 for a in audio], device=device)
        frames = (torch.arange(states[0].shape[1], device=device)[None, :] < n[:, None]).to(states[0].dtype)
        return pooled_rows(states, frames), seconds

    return pool_chunk


def compare(states_dir, peer_file):
    with open(os.path.join(states_dir, "states.json")) as f:
        layout = json.load(f)
    n, s, h = layout["clips"], layout["states"], layout["hidden"]
    vox = np.fromfile(os.path.join(states_dir, "states.f32"), dtype="<f4").reshape(n, s, 2, h)
    theirs = np.load(peer_file).reshape(n, s, 2, h)
    diff = np.abs(vox.astype(np.float64) - theirs.astype(np.float64))
    per_state_mean = diff[:, :, 0, :].max(axis=(0, 2))
    print(
        json.dumps(
            {
                "clips": n,
                "states": s,
                "hidden": h,
                "max_abs_mean": float(diff[:, :, 0, :].max()),
                "max_abs_std": float(diff[:, :, 1, :].max()),
                "max_abs_mean_per_state": [float(v) for v in per_state_mean],
                "max_abs_value": float(np.abs(theirs).max()),
            }
        )
    )


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "model":
        make_model(sys.argv[2], sys.argv[3])
    elif cmd == "peer":
        peer(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]), *sys.argv[7:8])
    elif cmd == "compare":
        compare(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
