"""Reference log-mel inputs, hidden states and pooled embeddings of transformers' Whisper encoder
for vox-wav2vec2's Whisper tests (`tests/whisper.rs`).

A tiny random `WhisperForConditionalGeneration` (keys `model.encoder.*`, `model.decoder.*`, as
the `openai/whisper-*` checkpoints on the hub are saved) with a real Whisper input: 80 mel bins,
1500 encoder positions (30 s), so that the 30-second padding, the conv stem's stride and the
sinusoidal positions are Whisper's own. Written under `tests/fixtures/whisper/`:
- `config.json`, `model.safetensors`, `preprocessor_config.json` (`save_pretrained`);
- `expected.safetensors`:
  - `samples0`, `samples1`: two clips of a deterministic signal (16037 and 8850 samples at 16 kHz:
    101 and 56 mel frames, 51 and 28 encoder frames, neither a multiple of the hop or stride),
    16-bit values as a WAV reader gives them (`int16 / 32768`);
  - `lengths` [2]: their sample counts; `encoder_frames` [2]: their valid encoder frames,
    `(ceil(n / 160) - 1) // 2 + 1` (transformers' `_get_feat_extract_output_lengths` of the
    rescaled attention mask);
  - `mel_head` [2, 80, 128], `mel_tail` [2, 80, 8]: `WhisperFeatureExtractor`'s input features
    (the clips padded to 30 s), the first 128 and the last 8 of the 3000 frames;
  - `mel128_head` [2, 128, 128]: the same with `feature_size = 128` (large-v3's input);
  - `states_head` [layers + 1, 2, 64, 32], `states_tail` [layers + 1, 2, 10, 32]: every hidden
    state (the embedded input, each layer's output, the last after the final layer norm, as
    `last_hidden_state`) at encoder frames 0..64 and 1490..1500;
  - `pooled_mean`, `pooled_std` [layers + 1, 2, 32]: per clip, the mean and the population
    standard deviation over its valid encoder frames only;
- `clips/clip0.wav`, `clips/clip1.wav` (16-bit), `meta.csv` (a table corpus of them) and
  `expected.json` (`{clip: {"hidden_state_means": [[...] per state]}}`): the same clips for a
  pipeline test that decodes the files, as a transformers user reads them;
- `../whisper-f16-bin/`: the config and a `pytorch_model.bin` holding one f16 tensor (the first
  conv's bias), which vox refuses by name (it widens half precision from safetensors only).

Usage (CPU is enough): `pip install torch transformers safetensors numpy`, then
`python scripts/make_whisper_fixtures.py` from `stages/wav2vec2/`.
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_feature_extractor_fixture import write_wav  # noqa: E402  (16-bit mono at 16 kHz)

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "whisper"
LENGTHS = (16037, 8850)
RATE = 16000


def signal(n: int, seed: int) -> np.ndarray:
    """A gliding tone with harmonics, an amplitude envelope and a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / RATE
    f0 = 140.0 + 60.0 * t / t[-1] + 20.0 * seed
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    voiced = sum(np.sin(k * phase) / k for k in range(1, 6))
    envelope = 0.5 - 0.4 * np.cos(2 * np.pi * 2.5 * t)
    return (0.3 * envelope * voiced + 0.01 * rng.standard_normal(n)).astype(np.float32)


def quantized(x: np.ndarray) -> np.ndarray:
    """16-bit samples, as a WAV file holds them."""
    return np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16)


def main():
    torch.manual_seed(0)
    config = WhisperConfig(
        vocab_size=64,
        num_mel_bins=80,
        d_model=32,
        encoder_layers=2,
        encoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_layers=1,
        decoder_attention_heads=4,
        decoder_ffn_dim=64,
        max_source_positions=1500,
        max_target_positions=16,
        activation_function="gelu",
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=1,
    )
    model = WhisperForConditionalGeneration(config).eval()
    # Random weights of a realistic scale: the default init leaves biases at zero, which would
    # hide a dropped bias; draw every parameter.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "embed_positions" in name:
                continue
            if name.endswith("layer_norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(0.2 * torch.randn_like(p))
    OUT.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(OUT)
    extractor = WhisperFeatureExtractor(feature_size=80)
    extractor.save_pretrained(OUT)

    pcm = [quantized(signal(n, i)) for i, n in enumerate(LENGTHS)]
    clips = [(x.astype(np.float32) / 32768.0).astype(np.float32) for x in pcm]
    rows = ["file,label"]
    (OUT / "clips").mkdir(exist_ok=True)
    for i, x in enumerate(pcm):
        write_wav(OUT / "clips" / f"clip{i}.wav", x)
        rows.append(f"clips/clip{i}.wav,{['happy', 'sad'][i]}")
    (OUT / "meta.csv").write_text("\n".join(rows) + "\n")
    features = extractor(clips, sampling_rate=RATE, return_tensors="pt", return_attention_mask=True)
    mel = features.input_features
    assert mel.shape == (2, 80, 3000), mel.shape
    mel_frames = features.attention_mask.sum(1)
    encoder = model.model.encoder
    frames = encoder._get_feat_extract_output_lengths(mel_frames)
    assert mel_frames.tolist() == [-(-n // 160) for n in LENGTHS], mel_frames
    mel128 = WhisperFeatureExtractor(feature_size=128)(clips, sampling_rate=RATE, return_tensors="pt").input_features

    with torch.no_grad():
        out = encoder(mel, output_hidden_states=True)
    # As for wav2vec2 (`make_ssl_fixtures.py`): the last entry is `last_hidden_state`, after the
    # final layer norm, as transformers 4 returned it.
    hidden = list(out.hidden_states)
    states = torch.stack(hidden[: config.encoder_layers] + [out.last_hidden_state])
    assert states.shape == (3, 2, 1500, 32), states.shape
    valid = (torch.arange(1500)[None, :] < frames[:, None]).to(states.dtype)[None, :, :, None]
    n = valid.sum(2)
    mean = (states * valid).sum(2) / n
    std = ((((states - mean[:, :, None, :]) * valid) ** 2).sum(2) / n).sqrt()

    tensors = {
        "samples0": torch.from_numpy(clips[0]),
        "samples1": torch.from_numpy(clips[1]),
        "lengths": torch.tensor(LENGTHS, dtype=torch.int64),
        "encoder_frames": frames.to(torch.int64),
        "mel_head": mel[:, :, :128].contiguous(),
        "mel_tail": mel[:, :, -8:].contiguous(),
        "mel128_head": mel128[:, :, :128].contiguous(),
        "states_head": states[:, :, :64].contiguous(),
        "states_tail": states[:, :, -10:].contiguous(),
        "pooled_mean": mean.contiguous(),
        "pooled_std": std.contiguous(),
    }
    save_file(tensors, str(OUT / "expected.safetensors"))
    means = {f"clip{i}": {"hidden_state_means": mean[:, i].tolist()} for i in range(2)}
    (OUT / "expected.json").write_text(json.dumps(means, indent=1) + "\n")
    pickle = OUT.parent / "whisper-f16-bin"
    pickle.mkdir(exist_ok=True)
    (pickle / "config.json").write_text((OUT / "config.json").read_text())
    torch.save({"model.encoder.conv1.bias": encoder.conv1.bias.detach().half().clone()}, pickle / "pytorch_model.bin")
    print("mel frames", mel_frames.tolist(), "encoder frames", frames.tolist())
    print("keys", sorted(json.load(open(OUT / "config.json")).keys())[:5], "...")
    print("torch", torch.__version__)


if __name__ == "__main__":
    main()
