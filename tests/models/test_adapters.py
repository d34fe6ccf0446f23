"""A LoRA round's checkpoint holds its weights as one adapter on the run's first model: two rounds of
LoRA, each merged into the next round's starting weights, equal the base plus their stacked adapter."""

import json
from pathlib import Path

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

from sparring.models.adapters import ADAPTER, adapter_base
from tests.models.conftest import lora_round


def test_stacked_adapters_on_the_base_give_each_rounds_merged_weights(tiny_model, tmp_path):
    round_1 = lora_round(tiny_model, tmp_path / "r1", seed=1, r=4, alpha=8)
    round_2 = lora_round(round_1, tmp_path / "r2", seed=2, r=4, alpha=16)  # another scale: folded into B
    base = str(Path(tiny_model).resolve())
    assert adapter_base(tiny_model) is None and adapter_base(round_1) == adapter_base(round_2) == base
    config = json.loads((tmp_path / "r2" / ADAPTER / "adapter_config.json").read_text())
    assert config["r"] == config["lora_alpha"] == 8  # the ranks add up; the scales are in B
    ids = torch.tensor([[1, 50, 200, 7, 99, 3]])
    for checkpoint in (round_1, round_2):
        merged = AutoModelForCausalLM.from_pretrained(checkpoint).eval()
        on_base = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model),
                                            f"{checkpoint}/{ADAPTER}").eval()
        with torch.no_grad():
            want, got = merged(ids).logits, on_base(ids).logits
            assert torch.allclose(got, want, atol=1e-4)
            assert not torch.allclose(want, AutoModelForCausalLM.from_pretrained(tiny_model)(ids).logits, atol=1e-3)
