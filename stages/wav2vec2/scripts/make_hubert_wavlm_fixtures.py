"""Reference outputs of transformers' HuBERT and WavLM for vox-wav2vec2's parity tests.

HuBERT is wav2vec2's body under another prefix (`hubert.`), with the feature projection's layer
norm optional (`feat_proj_layer_norm`); WavLM adds a gated relative position bias to every
attention layer (`gru_rel_pos_linear`, `gru_rel_pos_const`; the bucket embedding
`rel_attn_embed` in layer 0 only). Tiny random `*ForSequenceClassification` models of the same
sizes as `make_fixtures.py`'s, on its batch (two clips, the second padded), written under
`tests/fixtures/<variant>/` exactly as that script and `make_ssl_fixtures.py` write theirs:
`config.json`, `model.safetensors` (as `save_pretrained` names the keys), `expected.safetensors`
(`input_values`, `lengths`, `last_hidden_state`/`logits` with and without the mask) and
`hidden_states.safetensors` (every hidden state, pooled mean and std over valid frames);
`wavlm-base/buckets.safetensors` holds transformers' bucket of every relative distance in
[-3000, 3000].

Variants:
- `hubert-base`: group norm on conv 0, post-LN encoder, no feature-projection layer norm (as
  `facebook/hubert-base-ls960`);
- `hubert-large`: layer norm in every conv, pre-LN encoder, feature-projection layer norm (as
  `facebook/hubert-large-ll60k`);
- `wavlm-base`: group norm, post-LN (as `microsoft/wavlm-base-plus`);
- `wavlm-large`: layer norm, pre-LN (as `microsoft/wavlm-large`).

The 99 frames of the batch reach relative distances past the exact buckets (80 for the default
320 buckets), so both branches of the bucketing run.

Usage (CPU is enough): `pip install torch transformers safetensors`, then
`python scripts/make_hubert_wavlm_fixtures.py` from `stages/wav2vec2/`.
"""

import sys
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import HubertConfig, HubertForSequenceClassification, WavLMConfig, WavLMForSequenceClassification

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import OUT, VALID, batch, tiny_config, write  # noqa: E402
from make_ssl_fixtures import pooled  # noqa: E402


def build(model_class, config, seed: int):
    torch.manual_seed(seed)
    model = model_class(config)
    with torch.no_grad():
        # As make_fixtures.py: no parameter at its default init (gates at 1, norms at 1/0), so a
        # mapping error cannot hide.
        for param in model.parameters():
            param.add_(0.1 * torch.randn_like(param))
    return model.eval()


def outputs(model, body, values, mask) -> dict:
    out = {}
    with torch.no_grad():
        for suffix, m in (("", mask), ("_unmasked", None)):
            out["last_hidden_state" + suffix] = body(values, attention_mask=m).last_hidden_state
            out["logits" + suffix] = model(values, attention_mask=m).logits
    return out


def hidden_states(body, values, mask) -> dict:
    with torch.no_grad():
        out = body(values, attention_mask=mask, output_hidden_states=True)
    # As make_ssl_fixtures.py: the last entry is `last_hidden_state` (after a pre-LN model's
    # final norm), as transformers 4 returned it.
    states = torch.stack(list(out.hidden_states[:-1]) + [out.last_hidden_state])
    frames = body._get_feature_vector_attention_mask(states.shape[2], mask)
    mean, std = pooled(states, frames)
    return {"hidden_states": states.contiguous(), "pooled_mean": mean.contiguous(), "pooled_std": std.contiguous()}


def main():
    values, mask = batch()
    inputs = {"input_values": values, "lengths": torch.tensor(VALID, dtype=torch.int64)}
    variants = [
        ("hubert-base", HubertForSequenceClassification, tiny_config(False, HubertConfig, feat_proj_layer_norm=False), 3),
        ("hubert-large", HubertForSequenceClassification, tiny_config(True, HubertConfig, feat_proj_layer_norm=True), 4),
        ("wavlm-base", WavLMForSequenceClassification, tiny_config(False, WavLMConfig), 5),
        ("wavlm-large", WavLMForSequenceClassification, tiny_config(True, WavLMConfig), 6),
    ]
    for name, model_class, config, seed in variants:
        model = build(model_class, config, seed)
        body = getattr(model, model.base_model_prefix)
        expected = {**inputs, **outputs(model, body, values, mask)}
        write(name, model, model.state_dict(), "model.safetensors", expected)
        save_file(hidden_states(body, values, mask), str(OUT / name / "hidden_states.safetensors"))
        if name == "wavlm-base":
            # Transformers' buckets of every distance up to 3000 frames (a minute of audio), so
            # the f32 edge cases of the log-spaced buckets are checked beyond the batch's 99.
            distances = torch.arange(-3000, 3001)
            buckets = body.encoder.layers[0].attention._relative_positions_bucket(distances)
            save_file({"distance": distances, "bucket": buckets}, str(OUT / name / "buckets.safetensors"))
        keys = sorted(k for k in model.state_dict() if "layers.0.attention" in k or "projection" in k)
        print(name, "keys:", ", ".join(keys))
    print("torch", torch.__version__)


if __name__ == "__main__":
    main()
