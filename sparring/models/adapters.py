"""Every LoRA round's checkpoint also holds its weights as one adapter on the run's first model, so a
server that holds that model (vLLM) can serve any round by loading an adapter instead of restarting.

A round's LoRA is trained on its parent's merged weights, so round r's weights are the base plus
Σᵢ sᵢ·BᵢAᵢ over rounds 1..r (sᵢ = alphaᵢ/rᵢ): exactly one LoRA of rank Σ rᵢ whose A stacks the rounds'
A matrices and whose B stacks their scaled B matrices, with scale 1. PEFT has no such stacking (its
`add_weighted_adapter` with "cat" does the same for adapters loaded side by side on one model, not
across saved checkpoints), hence these few lines. The rank grows by `lora_r` a round.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

ADAPTER = "adapter"  # the sub-directory of a checkpoint holding its adapter on the base
BASE_KEY = "base_model_name_or_path"


def adapter_base(checkpoint: str | Path) -> str | None:
    """The model a checkpoint's adapter applies to, or None where it has no adapter (a full fine-tune,
    or the run's first model)."""
    config = Path(checkpoint) / ADAPTER / "adapter_config.json"
    return json.loads(config.read_text())[BASE_KEY] if config.exists() else None


def save_stacked_adapter(peft_model, parent: str | Path, target: Path) -> None:
    """Save to `target` the adapter on the base that gives `peft_model`'s merged weights: its own LoRA
    (trained on `parent`'s weights) stacked onto `parent`'s adapter, or alone where the parent has
    none (then the parent is the base)."""
    import torch
    from peft import get_peft_model_state_dict
    from safetensors.torch import load_file, save_file

    config = peft_model.peft_config["default"]
    scale = config.lora_alpha / config.r
    new = {k: (v.detach().float() * scale if ".lora_B." in k else v.detach().float())
           for k, v in get_peft_model_state_dict(peft_model).items()}
    base = adapter_base(parent)
    rank = config.r
    if base is None:
        base, stacked = str(Path(parent).resolve()), new
    else:
        old = load_file(str(Path(parent) / ADAPTER / "adapter_model.safetensors"))
        if set(old) != set(new):
            raise ValueError(f"the adapter of {parent} covers other modules than this round's LoRA")
        # lora_A is (rank, in): stack rows; lora_B is (out, rank): stack columns
        stacked = {k: torch.cat([old[k].float(), new[k]], dim=0 if ".lora_A." in k else 1) for k in new}
        rank += json.loads((Path(parent) / ADAPTER / "adapter_config.json").read_text())["r"]
    target.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in stacked.items()}, str(target / "adapter_model.safetensors"))
    saved = copy.deepcopy(config)
    saved.r, saved.lora_alpha, saved.base_model_name_or_path = rank, rank, base
    saved.save_pretrained(str(target))
