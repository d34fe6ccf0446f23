"""Experiment trackers (`report_to = ["tensorboard", "wandb", "trackio"]`): each round's metrics, its
training curve per step, and the run's headline figures, sent through each tracker's own library with
the run id and the resolved config.

Two x-axes: round metrics are logged against `round`, training curves against `train_step` (the
optimizer steps of every round so far, counted from the run's first). The run directory stays the
record: a tracker that fails (a network gone, a full disk) warns once, is dropped for the rest of the
process, and the run goes on. A resumed run sends the rounds it finishes in that process; TensorBoard
keeps one event file per process, so a round sent twice (a kill after its metrics were written, before
its send) shows as two points at one step.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

from sparring.errors import SparringError
from sparring.registry import Registry


class Tracker(Protocol):
    def log(self, values: Mapping[str, float], axis: str, step: int) -> None: ...

    def summary(self, values: Mapping[str, float]) -> None: ...

    def close(self) -> None: ...


TRACKERS: Registry[Callable[..., Tracker]] = Registry("tracker", "sparring.trackers")
TRACKERS.register("tensorboard", "sparring.trackers:TensorBoard",
                  "TensorBoard event files in <run>/tensorboard (pip install tensorboard)")
TRACKERS.register("wandb", "sparring.trackers:WandB",
                  "Weights & Biases, project 'sparring' (pip install wandb; WANDB_MODE=offline works without a network)")
TRACKERS.register("trackio", "sparring.trackers:Trackio", "Hugging Face trackio, project 'sparring' (pip install trackio)")


class TensorBoard:
    package = "tensorboard"  # what `pip install` needs; checked before any work

    def __init__(self, run_dir: Path, run_id: str, config: Mapping[str, Any]):
        import tomli_w
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"))
        self.writer.add_text("config", "```\n" + tomli_w.dumps(dict(config)) + "\n```", 0)
        self.writer.add_text("run_id", run_id, 0)

    def log(self, values: Mapping[str, float], axis: str, step: int) -> None:
        for key, value in values.items():
            self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def summary(self, values: Mapping[str, float]) -> None:
        for key, value in values.items():
            self.writer.add_scalar(f"summary/{key}", value, 0)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class WandB:
    """One wandb run per sparring run (its id the run id, resumed with it); round metrics against the
    `round` axis, training curves against `train_step`."""

    package = "wandb"

    def __init__(self, run_dir: Path, run_id: str, config: Mapping[str, Any]):
        import wandb

        self.lib = wandb
        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "sparring"), id=run_id, name=run_id,
                                 config=dict(config), dir=str(run_dir), resume="allow")
        for axis, pattern in (("round", "round/*"), ("train_step", "train_step/*")):
            self.lib.define_metric(axis)
            self.lib.define_metric(pattern, step_metric=axis)

    def log(self, values: Mapping[str, float], axis: str, step: int) -> None:
        self.run.log({**values, axis: step})

    def summary(self, values: Mapping[str, float]) -> None:
        self.run.summary.update(dict(values))

    def close(self) -> None:
        self.run.finish()


class Trackio:
    """trackio's wandb-like API: one trackio run per sparring run, in project 'sparring'."""

    package = "trackio"

    def __init__(self, run_dir: Path, run_id: str, config: Mapping[str, Any]):
        import trackio

        self.lib = trackio
        trackio.init(project=os.environ.get("TRACKIO_PROJECT", "sparring"), name=run_id, config=dict(config),
                      resume="allow")

    def log(self, values: Mapping[str, float], axis: str, step: int) -> None:
        self.lib.log({**values, axis: step})

    def summary(self, values: Mapping[str, float]) -> None:
        self.lib.log({f"summary/{key}": value for key, value in values.items()})

    def close(self) -> None:
        self.lib.finish()


def scalars(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The numeric leaves of nested metrics as {"a/b/c": value} (booleans as 0/1; lists, strings and
    None left out: a curve per step goes on its own axis)."""
    flat = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(scalars(value, name + "/"))
        elif isinstance(value, bool):
            flat[name] = float(value)
        elif isinstance(value, (int, float)):
            flat[name] = float(value)
    return flat


def curve_points(train: Mapping[str, Any]) -> list[dict[str, float]]:
    """A round's training curves, one dict per optimizer step: the loss and every per-step curve of
    the recipe (lists as long as the losses)."""
    losses = train.get("losses") or []
    curves = {k: v for k, v in train.items() if isinstance(v, list) and len(v) == len(losses) and k != "losses"}
    return [{"loss": loss, **{k: v[i] for k, v in curves.items() if isinstance(v[i], (int, float))}}
            for i, loss in enumerate(losses)]


class RunTrackers:
    """The run's trackers: each is opened once, and dropped with one warning at its first failure."""

    def __init__(self, names: Sequence[str], run_dir: Path, run_id: str, config: Mapping[str, Any],
                 warn: Callable[[str], None]):
        self.warn = warn
        self.open: dict[str, Tracker] = {}
        for name in names:
            def start(name: str = name) -> None:
                self.open[name] = TRACKERS.make(name, run_dir=run_dir, run_id=run_id, config=config)
            self._guard(name, start)

    def _guard(self, name: str, action: Callable[[], Any]) -> None:
        try:
            action()
        except Exception as e:  # the tracker's failure, never the run's: the run directory has it all
            self.open.pop(name, None)
            self.warn(f"tracker {name} failed and is dropped for this run ({type(e).__name__}: {e}); the run "
                      "directory keeps every figure")

    def round(self, metrics: Mapping[str, Any], first_step: int) -> int:
        """Send round r's metrics (axis round = r) and its training curve (axis train_step, from
        `first_step`); the train_step after it."""
        values = {f"round/{k}": v for k, v in scalars({k: v for k, v in metrics.items() if k != "round"}).items()}
        points = curve_points(metrics.get("train", {}))
        for name, tracker in list(self.open.items()):
            def send(tracker=tracker):
                tracker.log(values, "round", metrics["round"])
                for i, point in enumerate(points):
                    tracker.log({f"train_step/{k}": v for k, v in point.items()}, "train_step", first_step + i)
            self._guard(name, send)
        return first_step + len(points)

    def finish(self, history: Sequence[Mapping[str, Any]]) -> None:
        """The headline figures (the report's): the base and final scores and the gain, then close."""
        if history:
            first, last = history[0]["eval"]["score"], history[-1]["eval"]["score"]
            headline = {"score_round_0": first, "score_final": last, "gain_points": 100 * (last - first),
                        "rounds": float(history[-1]["round"])}
            for name, tracker in list(self.open.items()):
                self._guard(name, lambda tracker=tracker: tracker.summary(headline))
        for name, tracker in list(self.open.items()):
            self._guard(name, tracker.close)


def check(names: Sequence[str]) -> None:
    """Before any work: every name is a registered tracker whose package is installed."""
    import importlib.util

    for name in names:
        module = getattr(TRACKERS.load(name), "package", None)  # unknown: the closest names
        if module and importlib.util.find_spec(module) is None:
            raise SparringError(f"report_to names {name!r}, whose package is missing: pip install {module}")
