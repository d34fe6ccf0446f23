"""What the user sees: progress bars during long stages and a table after every round."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table


class Tracker:
    """Advances one progress bar; callable, so it can be an engine's `on_finished` hook."""

    def __init__(self, progress: Progress, task):
        self._progress, self._task = progress, task

    def start(self, total: int, completed: int | None = None) -> None:
        self._progress.update(self._task, total=total, completed=completed)

    def advance(self, n: int = 1, loss: float | None = None) -> None:
        note = f"loss {loss:.3f}" if loss is not None else ""
        self._progress.update(self._task, advance=n, note=note)

    def __call__(self, _episode) -> None:
        self.advance()


@contextmanager
def progress_bar(console: Console, description: str, total: int | None = None) -> Iterator[Tracker]:
    with Progress(TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[note]}"),
                  console=console) as progress:
        yield Tracker(progress, progress.add_task(description, total=total, note=""))


def percent_text(x: float | str | None) -> str:
    return "" if x is None else x if isinstance(x, str) else f"{100 * x:.1f}"


def levels_cell(levels: dict[str, list[int]]) -> str:
    """The levels a round trained on: "L1,L2" for one env; "chain_sum L1,L2; leg_counting L3" for a mixture."""
    from sparring.tasks.solo import short_names

    cells = [",".join(f"L{lv}" for lv in chosen) for chosen in levels.values()]
    if len(levels) == 1:
        return cells[0] or "-"
    return "; ".join(f"{name} {cell or '-'}" for name, cell in zip(short_names(levels), cells))


def rounds_table(history: Sequence[dict[str, Any]]) -> Table:
    """Every round so far: the task's result columns (accuracy per level, results per opponent, ...),
    its score, and what the round played and trained on."""
    columns = list(dict.fromkeys(k for m in history for k in m["eval"]["columns"]))
    table = Table(title=f"{history[-1]['eval']['score_name']} per round (%), and what each round trained on",
                  box=box.SIMPLE_HEAD)
    table.add_column("round", justify="right")
    for name in columns:
        table.add_column(name, justify="right")
    rated = any(m["eval"].get("rating") for m in history)
    if rated:
        table.add_column("rating", justify="right")
    levels = any(m.get("rollout", {}).get("levels") for m in history)
    proposing = any(m.get("rollout", {}).get("proposals") for m in history)
    for name in ("score", *(["trained on"] if levels else []), *(["proposals valid/novel/learnable %"] if proposing else []),
                 "pass %", "failed", "rows", "loss", "s roll/train/eval"):
        table.add_column(name, justify="right")
    for m in history:
        result, rollout, train, secs = m["eval"], m.get("rollout", {}), m.get("train", {}), m["seconds"]
        table.add_row(
            str(m["round"]), *(percent_text(result["columns"].get(name)) for name in columns),
            *([f"{result['rating']['ordinal']:.1f}" if result.get("rating") else "-"] if rated else []),
            percent_text(result["score"]),
            *([levels_cell(rollout.get("levels", {}))] if levels else []),
            *([proposal_cell(rollout.get("proposals"))] if proposing else []),
            percent_text(rollout.get("pass_rate")), str(rollout.get("failed", 0) + result.get("failed", 0)),
            str(m.get("dataset", {}).get("rows", "-")),
            f"{train['losses'][0]:.2f}→{train['losses'][-1]:.2f}" if train.get("losses") else "-",
            "/".join(f"{secs[s]:.0f}" if s in secs else "-" for s in ("rollout", "train", "eval")),
        )
    return table


def proposal_cell(proposals: dict[str, Any] | None) -> str:
    """Task 'propose': the round's valid, novel and learnable (p̂ in R-Zero's band) shares of the
    proposals, as 95/90/50."""
    if not proposals or not proposals.get("count"):
        return "-"
    return "/".join("-" if proposals.get(k) is None else f"{100 * proposals[k]:.0f}" for k in ("valid", "novel", "learnable"))
