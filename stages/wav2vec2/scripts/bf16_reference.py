"""How far PyTorch's own bf16 autocast lands from its f32 outputs on the parity fixtures.

The tolerance of `tests/parity.rs`'s bf16 test is set against these numbers: vox's bf16
products should be off from transformers' f32 outputs by about as much as
`torch.autocast(dtype=torch.bfloat16)` is. Run once (no output files), from this folder:

    /path/to/python scripts/bf16_reference.py

It needs torch, transformers and safetensors; the test suite itself needs no Python.
"""

import sys
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import AutoModelForAudioClassification

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"


def main() -> None:
    for variant in sys.argv[1:] or ["base", "large", "hubert-base", "wavlm-base", "wavlm-large"]:
        folder = FIXTURES / variant
        model = AutoModelForAudioClassification.from_pretrained(folder).eval()
        expected = load_file(str(folder / "expected.safetensors"))
        values = expected["input_values"]
        lengths = expected["lengths"].tolist()
        mask = torch.zeros(values.shape, dtype=torch.long)
        for i, n in enumerate(lengths):
            mask[i, :n] = 1
        body = getattr(model, model.base_model_prefix)
        for suffix, m in (("", mask), ("_unmasked", None)):
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
                hidden = body(values, attention_mask=m).last_hidden_state.float()
                logits = model(values, attention_mask=m).logits.float()
            for name, got in (("hidden state", hidden), ("logits", logits)):
                want = expected[("last_hidden_state" if name == "hidden state" else "logits") + suffix]
                error = (got - want).abs().max().item()
                print(f"{variant} {name}{suffix}: max abs diff {error:.2e} (values up to {want.abs().max().item():.2f})")


if __name__ == "__main__":
    main()
