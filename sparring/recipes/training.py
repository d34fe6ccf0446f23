"""The training set-up every recipe shares: TRL trainer, LoRA or full fine-tuning, CPU or GPU, saving.

A recipe's config subclasses `TrainingSettings`, builds its dataset, and calls `train_with` with its
TRL trainer and config classes (SFT, DPO, ...) plus what is its own; this module holds the rest:
loading, precision, the LoRA adapter and its merge, the progress bar, and an atomic save of weights,
tokenizer and the training record (so a checkpoint found on resume keeps its losses).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from sparring.errors import SparringError
from sparring.files import save_atomically
from sparring.models.paths import resolve_model
from sparring.recipes.base import TrainResult
from sparring.sections import Section


class TrainingSettings(Section):
    shapes = "train"

    # LoRA vs full fine-tuning was measured on this CPU (benchmarks/finetune.py, README).
    finetune: Literal["lora", "full"] = "lora"
    learning_rate: float = Field(3e-4, gt=0)
    epochs: float = Field(1.0, gt=0)
    batch_size: int = Field(8, ge=1)
    lora_r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    max_length: int = Field(256, ge=16, description="tokens of prompt + answer; longer rows are cut at the end")


def train_with(trainer_class, args_class, base_model: str, rows: list[dict[str, Any]], settings: TrainingSettings,
               section: str, out: Path, seed: int = 0, progress=None, dtype: str = "float32",
               args: dict[str, Any] | None = None, trainer: dict[str, Any] | None = None) -> TrainResult:
    """Train `base_model` on `rows` (a list of dicts with a chat-format "prompt") with a TRL trainer.

    `section` is the recipe's config section, named in errors. `args` go to `args_class` (e.g. DPOConfig's beta) and `trainer` to `trainer_class` (e.g. a
    reference model). Training runs in float32 with autocast to `dtype` where it is bfloat16 or
    float16. The merged weights, tokenizer and training record are saved atomically to `out`.
    """
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, PrinterCallback, TrainerCallback

    from sparring.models.transformers_backend import load_tokenizer

    if not rows:
        raise ValueError("no training rows")
    started = time.time()
    base_model = resolve_model(base_model)
    tokenizer = load_tokenizer(base_model)
    tokenizer.padding_side = "right"
    _check_room_for_answers(rows, tokenizer, settings.max_length, section)
    model = AutoModelForCausalLM.from_pretrained(base_model, dtype=torch.float32)
    cuda = torch.cuda.is_available()
    losses: list[float] = []
    curves: dict[str, list[float]] = {}

    class Track(TrainerCallback):
        def on_train_begin(self, args, state, control, **kw):
            if progress is not None:
                progress.start(state.max_steps)

        def on_step_end(self, args, state, control, **kw):
            if progress is not None:
                progress.advance(loss=losses[-1] if losses else None)

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))
                for key in CURVES:
                    if key in logs:
                        curves.setdefault(key, []).append(float(logs[key]))

    with tempfile.TemporaryDirectory() as scratch:
        config = args_class(
            output_dir=scratch, num_train_epochs=settings.epochs, per_device_train_batch_size=settings.batch_size,
            learning_rate=settings.learning_rate, lr_scheduler_type="constant", warmup_steps=0,
            logging_steps=1, save_strategy="no", report_to=[], disable_tqdm=True, seed=seed,
            max_length=settings.max_length, bf16=dtype == "bfloat16", fp16=dtype == "float16" and cuda,
            use_cpu=not cuda, gradient_checkpointing=False,  # checkpointing only costs time at this size
            dataloader_pin_memory=False, **(args or {}),
        )
        peft = (LoraConfig(r=settings.lora_r, lora_alpha=settings.lora_alpha, target_modules="all-linear",
                           lora_dropout=0.0, task_type="CAUSAL_LM") if settings.finetune == "lora" else None)
        fitting = trainer_class(model=model, args=config, train_dataset=Dataset.from_list(rows),
                                processing_class=tokenizer, peft_config=peft, callbacks=[Track()], **(trainer or {}))
        fitting.remove_callback(PrinterCallback)  # our progress bar shows the loss instead of raw log dicts
        fitting.train()
        trained = fitting.model.merge_and_unload() if settings.finetune == "lora" else fitting.model

    result = TrainResult(out, losses, time.time() - started, curves)

    def save(path: Path) -> None:
        trained.save_pretrained(path)
        tokenizer.padding_side = "left"
        tokenizer.save_pretrained(path)
        result.write(path)

    save_atomically(out, save)  # a checkpoint directory exists only once it is complete
    return result


def train_sft(base_model: str, rows: list[dict[str, Any]], settings: TrainingSettings, section: str, out: Path,
              seed: int = 0, progress=None, dtype: str = "float32") -> TrainResult:
    """Supervised fine-tuning on the rows' prompt/completion pairs with TRL's SFTTrainer (loss on the
    completion only)."""
    from trl import SFTConfig, SFTTrainer

    pairs = [{"prompt": r["prompt"], "completion": r["completion"]} for r in rows]
    return train_with(SFTTrainer, SFTConfig, base_model, pairs, settings, section, out, seed=seed,
                      progress=progress, dtype=dtype)


class PreferenceSettings(TrainingSettings):
    """What the DPO-loss recipes (dpo, spin) share besides their pairs and beta."""

    sft_weight: float = Field(
        0.0, ge=0, description="weight of a negative log-likelihood term on the chosen answer (RPO; Pang et al. use 1)")


# What a preference trainer logs per step besides the loss, kept in the training record: how far apart
# the policy puts chosen and rejected answers (reward = beta x log-ratio to the reference).
CURVES = ("rewards/margins", "rewards/accuracies", "rewards/chosen", "rewards/rejected", "logps/chosen",
          "logps/rejected")


def train_dpo(base_model: str, rows: list[dict[str, Any]], settings: PreferenceSettings, section: str, out: Path,
              beta: float, seed: int = 0, progress=None, dtype: str = "float32") -> TrainResult:
    """DPO on the rows' prompt/chosen/rejected with TRL's DPOTrainer, against the reference
    log-probabilities stored in the rows (`ref_chosen_logps`, `ref_rejected_logps`): no reference
    model is loaded, for LoRA and full fine-tuning alike. A positive `settings.sft_weight` adds the chosen
    answer's mean per-token negative log-likelihood, so weighted (RPO: Pang et al. 2024)."""
    from trl import DPOConfig, DPOTrainer

    class StoredReferenceDPOTrainer(DPOTrainer):
        # TRL computes the reference log-probabilities itself when asked to precompute them; ours were
        # computed at build time with the round's starting model and travel with the rows.
        def _precompute_ref_logps(self, dataset, name, batch_size):
            return dataset

    pairs = [{key: r[key] for key in ("prompt", "chosen", "rejected", "ref_chosen_logps", "ref_rejected_logps")}
             for r in rows]
    loss = ({"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, settings.sft_weight]} if settings.sft_weight
            else {})
    return train_with(StoredReferenceDPOTrainer, DPOConfig, base_model, pairs, settings, section, out, seed=seed,
                      progress=progress, dtype=dtype, args={"beta": beta, "precompute_ref_log_probs": True, **loss})


def keep_weights(base_model: str, out: Path, seconds: float = 0.0) -> TrainResult:
    """A round that trains on nothing: its checkpoint is a copy of the model it started from (every
    role's, for a per-role model), with an empty training record."""
    result = TrainResult(out, [], seconds)

    def save(path: Path) -> None:
        shutil.copytree(resolve_model(base_model), path)
        result.write(path)

    save_atomically(out, save)
    return result


def _check_room_for_answers(rows: list[dict[str, Any]], tokenizer, max_length: int, section: str) -> None:
    """Rows are cut at `max_length` tokens from the end, so a prompt that long leaves no answer to learn."""
    longest = max(len(tokenizer.apply_chat_template(r["prompt"], add_generation_prompt=True, return_dict=True)
                      ["input_ids"]) for r in rows)
    if longest >= max_length:
        raise SparringError(f"{section}.max_length = {max_length} leaves no room for the answer: the longest prompt "
                            f"is {longest} tokens. Raise it above {longest} plus the answer's length (and --resume)")
