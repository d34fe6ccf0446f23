"""rest-em: rejection-sampling SFT (ReST-EM, STaR, RFT).

Sample k answers per problem (the rollout stage does this), keep the verified ones, at most m
distinct per problem, and fine-tune on them with TRL's SFTTrainer (loss on the answer only).
The next round samples from the fine-tuned model.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Literal, Sequence

from pydantic import Field

from sparring.errors import SparringError
from sparring.recipes.base import Recipe, TrainResult
from sparring.sections import Section
from sparring.types import Episode


class RestEMConfig(Section):
    shapes = "train"
    shapes_by_key = {"max_per_problem": "build", "min_reward": "build"}

    max_per_problem: int = Field(2, ge=1, description="m: distinct verified answers kept per problem")
    min_reward: float = Field(1.0, description="an episode is verified when seat 0's reward reaches this")
    # LoRA vs full fine-tuning was measured on this CPU (benchmarks/finetune.py, README): see README.
    finetune: Literal["lora", "full"] = "lora"
    learning_rate: float = Field(3e-4, gt=0)
    epochs: float = Field(1.0, gt=0)
    batch_size: int = Field(8, ge=1)
    lora_r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    max_length: int = Field(256, ge=16, description="tokens of prompt + answer; longer rows are cut at the end")


def build(episodes: Sequence[Episode], cfg: RestEMConfig) -> list[dict[str, Any]]:
    """SFT rows from the verified episodes: at most `max_per_problem` distinct answers per problem.

    A problem is (env id, seed); answers count as the same when they match after stripping
    whitespace. Every row keeps its episode id and provenance.
    """
    kept: dict[tuple[str, int], dict[str, dict[str, Any]]] = defaultdict(dict)
    for e in episodes:
        if e.truncated or not e.rewards or e.rewards[0] < cfg.min_reward:
            continue
        turn = e.turns[-1]
        answer = turn.completion.text.strip()
        problem = kept[(e.env_id, e.seed)]
        if answer in problem or len(problem) >= cfg.max_per_problem:
            continue
        problem[answer] = {
            "prompt": [{"role": m.role, "content": m.content} for m in turn.prompt],
            "completion": [{"role": "assistant", "content": answer}],
            "episode_id": e.id,
            "env_id": e.env_id,
            "env_version": e.env_version,
            "seed": e.seed,
            "level": e.info.get("level"),
            "reward": e.rewards[0],
            "run_id": e.provenance.get("run_id"),
            "round": e.provenance.get("round"),
            "policy": json.dumps(e.provenance.get("policies", {}).get(e.policies[turn.seat])),
        }
    return [row for problem in kept.values() for row in problem.values()]


def train(base_model: str, rows: list[dict[str, Any]], cfg: RestEMConfig, out: Path, seed: int = 0,
          progress=None, dtype: str = "float32") -> TrainResult:
    """Fine-tune `base_model` on `rows` and save merged weights, tokenizer and the training record to
    `out`. Training runs in float32 with autocast to `dtype` where it is bfloat16 or float16."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, PrinterCallback, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from sparring.files import save_atomically
    from sparring.models.paths import resolve_model
    from sparring.models.transformers_backend import load_tokenizer

    if not rows:
        raise ValueError("no training rows: no sample was verified this round")
    started = time.time()
    base_model = resolve_model(base_model)
    tokenizer = load_tokenizer(base_model)
    tokenizer.padding_side = "right"
    _check_room_for_answers(rows, tokenizer, cfg.max_length)
    model = AutoModelForCausalLM.from_pretrained(base_model, dtype=torch.float32)
    dataset = Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]} for r in rows])
    cuda = torch.cuda.is_available()
    losses: list[float] = []

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

    with tempfile.TemporaryDirectory() as scratch:
        args = SFTConfig(
            output_dir=scratch, num_train_epochs=cfg.epochs, per_device_train_batch_size=cfg.batch_size,
            learning_rate=cfg.learning_rate, lr_scheduler_type="constant", warmup_steps=0,
            logging_steps=1, save_strategy="no", report_to=[], disable_tqdm=True, seed=seed,
            max_length=cfg.max_length, bf16=dtype == "bfloat16", fp16=dtype == "float16" and cuda,
            use_cpu=not cuda, gradient_checkpointing=False,  # checkpointing only costs time at this size
            dataloader_pin_memory=False,
        )
        peft = (LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, target_modules="all-linear",
                           lora_dropout=0.0, task_type="CAUSAL_LM") if cfg.finetune == "lora" else None)
        trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                             peft_config=peft, callbacks=[Track()])
        trainer.remove_callback(PrinterCallback)  # our progress bar shows the loss instead of raw log dicts
        trainer.train()
        trained = trainer.model.merge_and_unload() if cfg.finetune == "lora" else trainer.model

    result = TrainResult(out, losses, time.time() - started)

    def save(path: Path) -> None:
        trained.save_pretrained(path)
        tokenizer.padding_side = "left"
        tokenizer.save_pretrained(path)
        result.write(path)

    save_atomically(out, save)  # a checkpoint directory exists only once it is complete
    return result


def _check_room_for_answers(rows: list[dict[str, Any]], tokenizer, max_length: int) -> None:
    """Rows are cut at `max_length` tokens from the end, so a prompt that long leaves no answer to learn."""
    longest = max(len(tokenizer.apply_chat_template(r["prompt"], add_generation_prompt=True, return_dict=True)["input_ids"])
                  for r in rows)
    if longest >= max_length:
        raise SparringError(f"rest_em.max_length = {max_length} leaves no room for the answer: the longest prompt is "
                            f"{longest} tokens. Raise it above {longest} plus the answer's length (and --resume)")


RECIPE = Recipe(name="rest-em", config_key="rest_em", config=RestEMConfig, build=build, train=train,
                tiny_settings=("rest_em.min_reward=0.0", "rest_em.batch_size=4"))
