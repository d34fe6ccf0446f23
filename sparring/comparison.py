"""`sparring compare`: several runs from the same base model and generation budget, side by side.

Each run is an ordinary run directory, `<out>/<name>/`, made from the same config and overrides plus
its own (for `sparring compare --recipes`, only `recipe` changed; `benchmarks/curation.py` varies
curation and balance instead), so each one resumes on its own. The comparison is then read from their
metrics: held-out result per round, tokens generated, training rows, minutes per stage, and gain per
minute; it is written as `compare.json` and `compare.md` beside them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from rich.console import Console
from rich.table import Table

from sparring.errors import SparringError
from sparring.recipes import RECIPES
from sparring.reports.console import percent_text

STAGES = ("probe", "rollout", "curate", "build", "train", "eval")


def recipe_runs(recipes: Sequence[str]) -> dict[str, list[str]]:
    """One run per recipe, named after it: {recipe: its override}."""
    unknown = [r for r in recipes if r not in RECIPES.ids()]
    if unknown:
        raise SparringError(f"unknown recipe(s) {', '.join(map(repr, unknown))}; registered: {', '.join(RECIPES.ids())}")
    if len(set(recipes)) != len(recipes):
        raise SparringError(f"--recipes names a recipe twice: {', '.join(recipes)}")
    return {recipe: [f"recipe={recipe}"] for recipe in recipes}


def compare(config: Path | None, runs: Mapping[str, Sequence[str]], out: Path, overrides: Sequence[str], resume: bool,
            console: Console) -> list[dict[str, Any]]:
    """Run (or, with `resume`, finish) every named run under `out`, each from `config` with `overrides`
    and then its own (a resumed run: its saved config with `overrides`, checked as `run --resume` checks
    them); their summaries, in order."""
    from sparring import loop

    existing = [name for name in runs if (out / name / "config.toml").exists()]
    if existing and not resume:
        raise SparringError(f"{out} already holds runs of {', '.join(existing)}: add --resume to finish them, or "
                            "choose another --out")
    summaries = []
    for name, own in runs.items():
        root = out / name
        console.rule(f"[bold]{name}[/]")
        if (root / "config.toml").exists():
            cfg, run_dir, _ = loop.start_run(None, root, list(overrides), resume=True)
        else:
            cfg, run_dir, _ = loop.start_run(config, root, [*overrides, *own], resume=False)
        try:
            history = loop.run(cfg, run_dir, console)
        finally:
            run_dir.close()
        summaries.append(summarize(name, history))
    write(out, summaries)
    return summaries


def summarize(name: str, history: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One run in numbers. Minutes count every stage after round 0 (the base model's evaluation is
    the same for every run); the gain is in points of the task's score. `results`
    are the task's own columns per round (a game's win/draw/loss against each eval opponent)."""
    later = [m for m in history if m["round"] > 0]
    minutes = {stage: sum(m["seconds"].get(stage, 0.0) for m in later) / 60 for stage in STAGES}
    gain = 100 * (history[-1]["eval"]["score"] - history[0]["eval"]["score"])
    total = sum(minutes.values())
    return {
        "name": name,
        "score_name": history[-1]["eval"]["score_name"],
        "scores": [m["eval"]["score"] for m in history],
        "results": [m["eval"].get("columns", {}) for m in history],
        "tokens": sum(m.get("rollout", {}).get("tokens", 0) for m in later),
        "rows": sum(m.get("dataset", {}).get("rows", 0) for m in later),
        "minutes": minutes,
        "gain": gain,
        "gain_per_minute": gain / total if total else None,
    }


def sections(summaries: Sequence[dict[str, Any]], unit: str) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, column names, rows) of each table the comparison shows: what each run gained and
    spent, and the task's own results per round where it reports any."""
    made = [(f"{summaries[0]['score_name']} (%) per round, and what each run spent", *cells(summaries, unit)),
            ("results per round", *result_cells(summaries))]
    return [section for section in made if section[2]]


def tables(summaries: Sequence[dict[str, Any]], unit: str = "CPU") -> list[Table]:
    made = []
    for title, header, rows in sections(summaries, unit):
        made.append(Table(title=title))
        for name in header:
            made[-1].add_column(name, justify="left" if name == "run" else "right")
        for row in rows:
            made[-1].add_row(*row)
    return made


def markdown(summaries: Sequence[dict[str, Any]], unit: str = "CPU") -> str:
    return "\n".join("\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
                                 *("| " + " | ".join(row) + " |" for row in rows)]) + "\n"
                     for _, header, rows in sections(summaries, unit))


def cells(summaries: Sequence[dict[str, Any]], unit: str) -> tuple[list[str], list[list[str]]]:
    """The comparison's column names and its rows as text: one table for the console and markdown.
    Minutes are shown for the stages some run spent time in."""
    rounds = max(len(s["scores"]) for s in summaries)
    stages = [st for st in STAGES if any(s["minutes"].get(st) for s in summaries)]
    header = ["run", *(f"r{r}" for r in range(rounds)), "gain", "tokens", "rows", *(f"{st} min" for st in stages),
              f"gain per {unit}-min"]
    rows = [[s["name"], *(f"{100 * x:.1f}" for x in s["scores"]), *("-" * (rounds - len(s["scores"]))),
             f"{s['gain']:+.1f}", str(s["tokens"]), str(s["rows"]), *(f"{s['minutes'][st]:.1f}" for st in stages),
             "-" if s["gain_per_minute"] is None else f"{s['gain_per_minute']:+.2f}"] for s in summaries]
    return header, rows


def result_cells(summaries: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """One row per run and round of the task's own columns (accuracy per level, results against each
    opponent), in % as the round table shows them; no rows where the task reports none."""
    names = list(dict.fromkeys(name for s in summaries for columns in s["results"] for name in columns))
    rows = [[s["name"], str(r), *(percent_text(columns.get(name)) or "-" for name in names)]
            for s in summaries for r, columns in enumerate(s["results"])] if names else []
    return ["run", "round", *names], rows


def write(out: Path, summaries: Sequence[dict[str, Any]]) -> None:
    from sparring.files import save_atomically

    save_atomically(out / "compare.json", lambda tmp: tmp.write_text(json.dumps(list(summaries), indent=1)))
    save_atomically(out / "compare.md", lambda tmp: tmp.write_text(markdown(summaries, device_unit())))


def device_unit() -> str:
    import torch

    return "GPU" if torch.cuda.is_available() else "CPU"
