"""Reference outputs of transformers' wav2vec2 for the parity tests of vox-wav2vec2.

Builds tiny random `Wav2Vec2ForSequenceClassification` models in both layouts, runs them in eval
mode on a batch of two clips (the second one padded, with an attention mask), and writes under
`tests/fixtures/<variant>/`:

- `config.json` and the weights, as the loader expects a model folder;
- `expected.safetensors`: `input_values` [2, samples], `lengths` [2] (valid samples),
  `last_hidden_state` / `logits` with the mask, and `*_unmasked` without it.

Variants:
- `base`: group norm on conv 0, post-LN encoder, HF projector head; weights in
  `model.safetensors` with the legacy `weight_g`/`weight_v` names of the positional conv.
- `base-bin`: the same model as `pytorch_model.bin` (torch.save of the state dict).
- `large`: layer norm in every conv, stable (pre-LN) encoder, conv bias, HF projector head;
  weights as `save_pretrained` writes them (`parametrizations.weight.original0/1`).
- `large-dense-tanh`: the `large` body with the SER notebooks' dense+tanh head
  (`classifier.dense`, `classifier.out_proj`), pooled over valid frames.

Usage (CPU is enough): `pip install torch transformers safetensors`, then
`python scripts/make_fixtures.py` from `stages/wav2vec2/`.
"""

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import Wav2Vec2Config, Wav2Vec2ForSequenceClassification

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
SAMPLES = 2000
VALID = [2000, 1300]


def tiny_config(large: bool, config_class=Wav2Vec2Config, **extra):
    """The tiny sizes of every fixture, in `config_class` (make_hubert_wavlm_fixtures.py passes
    HuBERT's and WavLM's) with `extra` family fields."""
    return config_class(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2 if large else 4,
        intermediate_size=64,
        conv_dim=(16, 16, 16),
        conv_kernel=(10, 3, 3),
        conv_stride=(5, 2, 2),
        conv_bias=large,
        feat_extract_norm="layer" if large else "group",
        do_stable_layer_norm=large,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        classifier_proj_size=16,
        num_labels=8,
        use_weighted_layer_sum=False,
        mask_time_prob=0.0,
        layerdrop=0.0,
        **extra,
    )


def build(large: bool, seed: int) -> Wav2Vec2ForSequenceClassification:
    torch.manual_seed(seed)
    model = Wav2Vec2ForSequenceClassification(tiny_config(large))
    with torch.no_grad():
        # Shift every parameter so that norms are not 1/0 and biases not 0: a mapping error
        # (gamma vs beta, a transposed Linear) cannot hide behind default initializations.
        for param in model.parameters():
            param.add_(0.1 * torch.randn_like(param))
    return model.eval()


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(7)
    values = torch.randn(len(VALID), SAMPLES)
    mask = torch.zeros(len(VALID), SAMPLES, dtype=torch.long)
    for i, n in enumerate(VALID):
        values[i, n:] = 0.0
        mask[i, :n] = 1
    return values, mask


def hf_outputs(model, values, mask) -> dict:
    with torch.no_grad():
        out = {}
        for suffix, m in (("", mask), ("_unmasked", None)):
            hidden = model.wav2vec2(values, attention_mask=m).last_hidden_state
            logits = model(values, attention_mask=m).logits
            out["last_hidden_state" + suffix] = hidden
            out["logits" + suffix] = logits
    return out


def dense_tanh_outputs(model, head, values, mask) -> dict:
    """The SER notebooks' head, pooled over valid frames (all frames without a mask)."""
    dense, out_proj = head
    with torch.no_grad():
        out = {}
        for suffix, m in (("", mask), ("_unmasked", None)):
            hidden = model.wav2vec2(values, attention_mask=m).last_hidden_state
            if m is None:
                pooled = hidden.mean(dim=1)
            else:
                frames = model._get_feature_vector_attention_mask(hidden.shape[1], m)
                pooled = (hidden * frames.unsqueeze(-1)).sum(1) / frames.sum(1, keepdim=True)
            out["last_hidden_state" + suffix] = hidden
            out["logits" + suffix] = out_proj(torch.tanh(dense(pooled)))
    return out


def write(name: str, model, state: dict, weights_file: str, expected: dict, extra_config=None):
    folder = OUT / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    config = model.config.to_dict()
    config.update(extra_config or {})
    (folder / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    state = {k: v.detach().contiguous() for k, v in state.items()}
    if weights_file.endswith(".safetensors"):
        save_file(state, str(folder / weights_file))
    else:
        torch.save(state, folder / weights_file)
    save_file({k: v.contiguous() for k, v in expected.items()}, str(folder / "expected.safetensors"))


def legacy_weight_norm_names(state: dict) -> dict:
    renames = {"parametrizations.weight.original0": "weight_g",
               "parametrizations.weight.original1": "weight_v"}
    out = {}
    for key, value in state.items():
        for old, new in renames.items():
            key = key.replace(old, new)
        out[key] = value
    return out


def main():
    values, mask = batch()
    inputs = {"input_values": values, "lengths": torch.tensor(VALID, dtype=torch.int64)}

    base = build(large=False, seed=0)
    expected = {**inputs, **hf_outputs(base, values, mask)}
    state = base.state_dict()
    write("base", base, legacy_weight_norm_names(state), "model.safetensors", expected)
    write("base-bin", base, state, "pytorch_model.bin", expected)

    large = build(large=True, seed=1)
    expected = {**inputs, **hf_outputs(large, values, mask)}
    write("large", large, large.state_dict(), "model.safetensors", expected)

    torch.manual_seed(2)
    dense = torch.nn.Linear(32, 32)
    out_proj = torch.nn.Linear(32, 8)
    state = {k: v for k, v in large.state_dict().items() if k.startswith("wav2vec2.")}
    state.update({f"classifier.dense.{k}": v for k, v in dense.state_dict().items()})
    state.update({f"classifier.out_proj.{k}": v for k, v in out_proj.state_dict().items()})
    expected = {**inputs, **dense_tanh_outputs(large, (dense, out_proj), values, mask)}
    write("large-dense-tanh", large, state, "model.safetensors", expected,
          {"classifier_head": "dense-tanh"})

    for path in sorted(OUT.rglob("*")):
        if path.is_file():
            print(f"{path.relative_to(OUT)}: {path.stat().st_size} bytes")
    print("torch", torch.__version__)


if __name__ == "__main__":
    main()
