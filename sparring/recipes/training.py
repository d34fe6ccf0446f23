"""The training set-up every recipe shares: TRL trainer, LoRA or full fine-tuning, CPU or GPU, saving.

A recipe's config subclasses `TrainingSettings`, builds its dataset, and calls `train_with` with its
TRL trainer and config classes (SFT, DPO, ...) plus what is its own, or, for a loss TRL does not have
(the listwise move loss, PPO-clip), `train_loop` with a function giving a batch's loss; this module
holds the rest: loading, precision, the LoRA adapter and its merge, the progress bar, the bound on a
round's steps (`max_steps`), and an atomic save of weights, tokenizer and the training record (so a
checkpoint found on resume keeps its losses).
"""

from __future__ import annotations

import math
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import Field

from sparring.errors import SparringError
from sparring.files import save_atomically
from sparring.models.adapters import ADAPTER, save_stacked_adapter
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
    max_steps: int | None = Field(None, ge=1, description=(
        "at most this many optimizer steps a round, whatever the rows (so a run's time does not grow with what it "
        "keeps) [default: epochs over every row]"))


def planned_steps(rows: int, settings: TrainingSettings) -> int:
    """Optimizer steps of a round: `epochs` over `rows` in batches, at most `max_steps`."""
    steps = max(1, math.ceil(rows * settings.epochs / settings.batch_size))
    return min(steps, settings.max_steps) if settings.max_steps is not None else steps


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
            dataloader_pin_memory=False,
            max_steps=planned_steps(len(rows), settings) if settings.max_steps is not None else -1, **(args or {}),
        )
        fitting = trainer_class(model=model, args=config, train_dataset=Dataset.from_list(rows),
                                processing_class=tokenizer, peft_config=lora_config(settings), callbacks=[Track()],
                                **(trainer or {}))
        fitting.remove_callback(PrinterCallback)  # our progress bar shows the loss instead of raw log dicts
        fitting.train()
    return save_trained(fitting.model, base_model, tokenizer, TrainResult(out, losses, time.time() - started, curves))


def lora_config(settings: TrainingSettings):
    """The LoRA adapter every recipe trains (None for full fine-tuning): all linear layers, no dropout."""
    from peft import LoraConfig

    return (LoraConfig(r=settings.lora_r, lora_alpha=settings.lora_alpha, target_modules="all-linear",
                       lora_dropout=0.0, task_type="CAUSAL_LM") if settings.finetune == "lora" else None)


def save_trained(trained, parent: str, tokenizer, result: TrainResult) -> TrainResult:
    """The merged weights, tokenizer and training record, saved atomically: a checkpoint directory
    exists only once it is complete. A LoRA model (trained on `parent`) also leaves its weights as one
    adapter on the run's first model (models/adapters.py), for a server that loads adapters."""
    def save(path: Path) -> None:
        if hasattr(trained, "merge_and_unload"):  # a PeftModel: LoRA
            save_stacked_adapter(trained, resolve_model(parent), path / ADAPTER)
        (trained.merge_and_unload() if hasattr(trained, "merge_and_unload") else trained).save_pretrained(path)
        tokenizer.padding_side = "left"
        tokenizer.save_pretrained(path)
        result.write(path)

    save_atomically(result.checkpoint, save)
    return result


# A batch's loss and the numbers to log beside it (curves in the training record).
BatchLoss = Callable[[Any, Any, list[dict[str, Any]]], tuple[Any, dict[str, float]]]


def train_loop(base_model: str, rows: list[dict[str, Any]], settings: TrainingSettings, section: str, out: Path,
               loss_of: BatchLoss, seed: int = 0, progress=None, dtype: str = "float32",
               betas: tuple[float, float] = (0.9, 0.999)) -> TrainResult:
    """Train with a loss of our own (the listwise move loss, PPO-clip), which TRL's trainers do not
    offer: `loss_of(model, tokenizer, batch)` gives a batch's loss and what to log. The same model
    loading, LoRA adapter, precision (float32 weights, autocast to bfloat16 where asked), merge and
    saved record as `train_with`; AdamW at a constant learning rate, gradient norm clipped to 1.0,
    `planned_steps` steps over the rows shuffled by `seed`."""
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, set_seed

    from sparring.models.transformers_backend import load_tokenizer

    if not rows:
        raise ValueError("no training rows")
    started = time.time()
    set_seed(seed)  # the adapter's initial weights
    base_model = resolve_model(base_model)
    tokenizer = load_tokenizer(base_model)
    _check_room_for_answers(rows, tokenizer, settings.max_length, section)
    model = AutoModelForCausalLM.from_pretrained(base_model, dtype=torch.float32, attn_implementation="sdpa")
    if settings.finetune == "lora":
        model = get_peft_model(model, lora_config(settings))
    model.to("cuda" if torch.cuda.is_available() else "cpu").train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.learning_rate, betas=betas, weight_decay=0.0)
    steps, rng = planned_steps(len(rows), settings), random.Random(seed)
    order: list[int] = []
    losses: list[float] = []
    curves: dict[str, list[float]] = {}
    if progress is not None:
        progress.start(steps)
    for _ in range(steps):
        if len(order) < settings.batch_size:  # the next epoch's order after this one's rest
            order += rng.sample(range(len(rows)), len(rows))
        batch, order = [rows[i] for i in order[:settings.batch_size]], order[settings.batch_size:]
        with torch.autocast("cpu" if not torch.cuda.is_available() else "cuda", dtype=torch.bfloat16,
                            enabled=dtype == "bfloat16"):
            loss, logs = loss_of(model, tokenizer, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        for key, value in logs.items():
            curves.setdefault(key, []).append(float(value))
        if progress is not None:
            progress.advance(loss=losses[-1])
    model.eval()
    return save_trained(model, base_model, tokenizer, TrainResult(out, losses, time.time() - started, curves))


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


def train_roles(base_model: str, rows_by_role: dict[str, list[dict[str, Any]]], out: Path, seed: int,
                train_one: Callable[[str, list[dict[str, Any]], Path, int], TrainResult]) -> TrainResult:
    """A per-role checkpoint (sparring/policies/checkpoints.py): every role trained on its own rows by
    `train_one(base, rows, out, seed)`, from its own checkpoint of `base_model` (the shared model where
    it has none yet); a role with no rows keeps its previous weights."""
    from sparring.policies.checkpoints import role_model
    from sparring.seeds import derive_seed

    started = time.time()
    losses: list[float] = []

    def save(tmp: Path) -> None:
        tmp.mkdir()
        for index, (role, mine) in enumerate(rows_by_role.items()):
            base = role_model(base_model, role)
            if mine:
                losses.extend(train_one(base, mine, tmp / role, derive_seed(seed, index, bits=32)).losses)
            else:
                shutil.copytree(resolve_model(base), tmp / role)
        TrainResult(out, losses, time.time() - started).write(tmp)

    save_atomically(out, save)
    return TrainResult(out, losses, time.time() - started)


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
                            f"is {longest} tokens. Raise it above {longest} plus the answer's length: in a new run, or with "
                            "--resume where no round has trained yet (stored rounds were cut at this length)")

