"""A checkpoint that takes raw samples, scored the way transformers' users score it, for vox's
end-to-end test of `preprocessor_config.json` (tests/ssl.rs at the repository root).

`microsoft/wavlm-base-plus` and others were trained on unnormalized audio: their
`preprocessor_config.json` says `"do_normalize": false`, and transformers'
`AutoFeatureExtractor` leaves the samples as they are. This script writes, under
`tests/fixtures/wavlm-raw/`:

- a tiny random `WavLMForSequenceClassification` (`make_fixtures.py`'s large sizes: conv biases,
  layer norm in every conv, pre-LN, as wavlm-large) whose head names its classes (`id2label`:
  angry, neutral, happy, sad, in another order than the clips bring them), saved with
  `save_pretrained`, and its feature extractor (`do_normalize=False`,
  `return_attention_mask=True`) saved with `save_pretrained`. The large layout because its
  output depends on the input's level; a group-norm first conv without bias (wavlm-base-plus)
  is nearly blind to it, so normalizing or not would hardly show;
- `clips/*.wav`: four 16-bit 16 kHz clips of different lengths (harmonic tones with noise at
  levels far from unit variance, so normalizing would change them), and `meta.csv` (file,
  label) for vox's table corpus;
- `expected.json`: per clip, the class probabilities and the mean over frames of every hidden
  state, each computed from the wav file as a transformers user would (read the int16 samples,
  divide by 32768, the feature extractor, the model; one clip at a time).

Usage (CPU is enough): `pip install torch transformers safetensors numpy`, then
`python scripts/make_feature_extractor_fixture.py` from `stages/wav2vec2/`.
"""

import json
import shutil
import sys
import wave
from pathlib import Path

import numpy as np
import torch
import transformers
from transformers import Wav2Vec2FeatureExtractor, WavLMConfig, WavLMForSequenceClassification

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import OUT, tiny_config  # noqa: E402

RATE = 16000
LABELS = ["angry", "neutral", "happy", "sad"]
# (file, label, seconds, fundamental Hz, amplitude)
CLIPS = [
    ("a_happy", "happy", 0.45, 300.0, 0.30),
    ("b_sad", "sad", 0.35, 110.0, 0.03),
    ("c_angry", "angry", 0.50, 220.0, 0.60),
    ("d_neutral", "neutral", 0.40, 130.0, 0.08),
]


def clip_samples(seconds: float, f0: float, amplitude: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    tone = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 5))
    signal = amplitude * (0.5 * tone + 0.1 * rng.standard_normal(t.size)) + 0.05 * amplitude
    return np.clip(np.round(signal * 32767), -32768, 32767).astype(np.int16)


def write_wav(path: Path, samples: np.ndarray):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.tobytes())


def main():
    folder = OUT / "wavlm-raw"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "clips").mkdir(parents=True)
    config = tiny_config(True, WavLMConfig)
    config.id2label = dict(enumerate(LABELS))
    config.label2id = {label: i for i, label in enumerate(LABELS)}
    torch.manual_seed(11)
    model = WavLMForSequenceClassification(config)
    with torch.no_grad():
        # As make_fixtures.py: no parameter at its default init, and a head whose outputs differ.
        for param in model.parameters():
            param.add_(0.1 * torch.randn_like(param))
        model.classifier.weight.mul_(3.0)
    model = model.eval()
    model.save_pretrained(folder, safe_serialization=True)
    extractor = Wav2Vec2FeatureExtractor(do_normalize=False, return_attention_mask=True, sampling_rate=RATE)
    extractor.save_pretrained(folder)

    rows = ["file,label"]
    expected = {}
    for seed, (name, label, seconds, f0, amplitude) in enumerate(CLIPS):
        path = folder / "clips" / f"{name}.wav"
        write_wav(path, clip_samples(seconds, f0, amplitude, seed))
        rows.append(f"clips/{name}.wav,{label}")
        # What a user's code does: the wav's samples as floats, the extractor, the model.
        with wave.open(str(path)) as w:
            samples = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768.0
        inputs = extractor(samples, sampling_rate=RATE, return_tensors="pt")
        with torch.no_grad():
            logits = model(**inputs).logits
            body = model.wavlm(**inputs, output_hidden_states=True)
        # As make_ssl_fixtures.py: the last state is `last_hidden_state` (after a pre-LN model's
        # final norm), as transformers 4 returned it in `hidden_states`.
        states = list(body.hidden_states[:-1]) + [body.last_hidden_state]
        expected[name] = {
            "probabilities": dict(zip(LABELS, torch.softmax(logits[0], -1).tolist())),
            "hidden_state_means": [state[0].mean(0).tolist() for state in states],
        }
    (folder / "meta.csv").write_text("\n".join(rows) + "\n")
    (folder / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    print("torch", torch.__version__, "transformers", transformers.__version__)


if __name__ == "__main__":
    main()
