"""Reference outputs of transformers' `Wav2Vec2ForSequenceClassification` with
`use_weighted_layer_sum = True` (the head of the SUPERB checkpoints, e.g. the emotion
recognition ones converted from s3prl), for vox-wav2vec2's parity tests.

The head pools a mix of every hidden state, weighted by the softmax of a learned
`layer_weights`, instead of the encoder's output. Both layouts, because they differ in which
state comes last: transformers 5 (used here) collects the last layer's output itself, so in a
pre-LN ("stable layer norm") model the mix leaves out the encoder's final norm (transformers 4
mixed the normed output; post-LN models have no final norm, so there both agree).

Written under `tests/fixtures/<variant>/` as `make_fixtures.py` writes its variants, on its
batch (two clips, the second padded): `config.json`, `model.safetensors`, and
`expected.safetensors` whose `last_hidden_state` is the weighted mix the projector sees, with
and without the mask, beside the logits.

Variants: `base-weighted` (group norm, post-LN) and `large-weighted` (layer norm, pre-LN), with
`layer_weights` far from uniform so that a wrong state or order shows.

Usage (CPU is enough): `pip install torch transformers safetensors`, then
`python scripts/make_weighted_sum_fixtures.py` from `stages/wav2vec2/`.
"""

import sys
from pathlib import Path

import torch
import transformers
from transformers import Wav2Vec2ForSequenceClassification

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import VALID, batch, tiny_config, write  # noqa: E402


def build(large: bool, seed: int) -> Wav2Vec2ForSequenceClassification:
    torch.manual_seed(seed)
    config = tiny_config(large)
    config.use_weighted_layer_sum = True
    model = Wav2Vec2ForSequenceClassification(config)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.1 * torch.randn_like(param))
        model.layer_weights.copy_(torch.tensor([0.3, -1.0, 1.5]))
    return model.eval()


def outputs(model, values, mask) -> dict:
    out = {}
    with torch.no_grad():
        for suffix, m in (("", mask), ("_unmasked", None)):
            states = model.wav2vec2(values, attention_mask=m, output_hidden_states=True).hidden_states
            weights = torch.softmax(model.layer_weights, dim=-1)
            out["last_hidden_state" + suffix] = (torch.stack(states, dim=1) * weights.view(-1, 1, 1)).sum(dim=1)
            out["logits" + suffix] = model(values, attention_mask=m).logits
    return out


def main():
    values, mask = batch()
    inputs = {"input_values": values, "lengths": torch.tensor(VALID, dtype=torch.int64)}
    for name, large, seed in (("base-weighted", False, 21), ("large-weighted", True, 22)):
        model = build(large, seed)
        write(name, model, model.state_dict(), "model.safetensors", {**inputs, **outputs(model, values, mask)})
    print("torch", torch.__version__, "transformers", transformers.__version__)


if __name__ == "__main__":
    main()
