"""Reference hidden states and pooled embeddings of transformers for the SSL-feature tests.

For each committed model folder of `make_fixtures.py` (`base`, `large`), loads it with
transformers (the body of `Wav2Vec2ForSequenceClassification.from_pretrained`, eval mode), runs the committed batch of
`expected.safetensors` (two clips, the second padded) with its attention mask and
`output_hidden_states=True`, and writes `tests/fixtures/<variant>/hidden_states.safetensors`:

- `hidden_states` [layers + 1, 2, frames, hidden]: HF's `hidden_states` tuple, stacked, its
  last entry the encoder's output `last_hidden_state` (see the note in `main`);
- `pooled_mean`, `pooled_std` [layers + 1, 2, hidden]: per clip, the mean and the population
  standard deviation (numpy's default, ddof = 0) over its valid frames only.

Usage (CPU is enough): `pip install torch transformers safetensors`, then
`python scripts/make_ssl_fixtures.py` from `stages/wav2vec2/` after `make_fixtures.py`.
"""

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers import Wav2Vec2ForSequenceClassification

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures"


def pooled(states: torch.Tensor, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and population std over the valid frames, [layers, batch, hidden] each."""
    w = frames.to(states.dtype)[None, :, :, None]
    n = w.sum(2)
    mean = (states * w).sum(2) / n
    var = (((states - mean[:, :, None, :]) * w) ** 2).sum(2) / n
    return mean, var.sqrt()


def main():
    for variant in ("base", "large"):
        folder = OUT / variant
        expected = load_file(str(folder / "expected.safetensors"))
        values = expected["input_values"]
        lengths = expected["lengths"]
        mask = (torch.arange(values.shape[1])[None, :] < lengths[:, None]).long()
        model = Wav2Vec2ForSequenceClassification.from_pretrained(folder).eval().wav2vec2
        with torch.no_grad():
            out = model(values, attention_mask=mask, output_hidden_states=True)
        # The last entry is the encoder's output, `last_hidden_state` (pre-LN models: after the
        # final layer norm), as transformers 4 returned it. transformers 5 returns the last
        # layer's output before that norm there (`capture_outputs(tie_last_hidden_states=False)`
        # on `Wav2Vec2Model`); the layers before it are the same in both.
        states = torch.stack(list(out.hidden_states[:-1]) + [out.last_hidden_state])
        drift = (states[-1] - expected["last_hidden_state"]).abs().max().item()
        assert drift < 1e-5, f"{variant}: the last hidden state drifted by {drift} from expected.safetensors"
        frames = model._get_feature_vector_attention_mask(states.shape[2], mask)
        mean, std = pooled(states, frames)
        save_file(
            {"hidden_states": states.contiguous(), "pooled_mean": mean.contiguous(), "pooled_std": std.contiguous()},
            str(folder / "hidden_states.safetensors"),
        )
        print(variant, tuple(states.shape), "valid frames", frames.sum(1).tolist())
    print("torch", torch.__version__)


if __name__ == "__main__":
    main()
