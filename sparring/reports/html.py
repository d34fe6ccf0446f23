"""report.html: one self-contained page of a run (plotly.js inlined, so it opens with no network).

Plots per round of the held-out results, the league rating, the quality, diversity and complexity
of the generated data, the model's own problems (task 'propose': valid, novel, in the learnable band,
their size), B-STaR's exploration and exploitation, the episodes kept and dropped by
reason, and the seconds per stage; the alarms; and sample episodes of each round (best, worst and
random, every turn shown). It reads the run directory without locking it, so it can be written
while the run goes on, and it renders whatever a run holds: what a round from an older version or
an unfinished round lacks is named under "Missing", never an error.
"""

from __future__ import annotations

import html
import json
import random
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

from sparring.files import write_atomically
from sparring.reports.console import percent_text
from sparring.types import Episode

SAMPLES = 3  # best, worst and random episodes shown per round
PLOT_CONFIG = {"displayModeBar": False, "responsive": True}  # hover and zoom stay; the toolbar hid the titles


def html_report(root: Path, out: Path | None = None) -> Path:
    """Write `out` (default: report.html in the run directory `root`) and return its path."""
    root = Path(root)
    out = out or root / "report.html"
    rounds, missing = read_rounds(root)
    sections = []
    for name, section in (("the summary", _header), ("the alarms", _alarms), ("the plots", _figures),
                          ("the sample episodes", _samples)):
        try:
            sections.append(section(root, rounds, missing))
        except Exception as e:  # a part the run's files cannot give is named, the rest still renders
            missing.append(f"{name}: could not be drawn from this run's files ({type(e).__name__}: {e})")
    sections.append(_missing(missing))
    write_atomically(out, _PAGE.format(title=html.escape(root.name), plotly=_plotly_js(), body="\n".join(sections)))
    return out


def read_rounds(root: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The metrics of every finished round in order, and what the directory lacks, in words."""
    rounds, missing = [], []
    if not (root / "config.toml").exists():
        missing.append(f"{root} has no config.toml: it may not be a sparring run directory")
    round_dirs = sorted((p for p in (root / "rounds").glob("*") if p.name.isdigit()), key=lambda p: int(p.name))
    for path in round_dirs:
        r = int(path.name)
        try:
            rounds.append(json.loads((path / "metrics.json").read_text()))
        except FileNotFoundError:
            stored = ", ".join(name for name, file in (("curation", "curate.json"), ("dataset", "dataset.parquet"),
                                                       ("checkpoint", "checkpoint")) if (path / file).exists())
            missing.append(f"round {r} is not finished (no metrics.json{'; stored: ' + stored if stored else ''})")
        except ValueError as e:
            missing.append(f"round {r}'s metrics.json is damaged ({e})")
    if not rounds:
        missing.append("no round has finished yet: nothing to plot")
    return rounds, missing


# --- figures ---------------------------------------------------------------------------------------
def _figures(root: Path, rounds: list[dict[str, Any]], missing: list[str]) -> str:
    import plotly.graph_objects as go

    def lines(title: str, series: dict[str, list[tuple[int, float]]], y_title: str = "") -> go.Figure | None:
        series = {name: points for name, points in series.items() if points}
        if not series:
            return None
        fig = go.Figure([go.Scatter(x=[x for x, _ in pts], y=[y for _, y in pts], name=name, mode="lines+markers")
                         for name, pts in series.items()])
        fig.update_layout(title=title, xaxis_title="round", yaxis_title=y_title, xaxis_dtick=1)
        return fig

    def bars(title: str, series: dict[str, list[tuple[int, float]]], y_title: str) -> go.Figure | None:
        series = {name: points for name, points in series.items() if points}
        if not series:
            return None
        fig = go.Figure([go.Bar(x=[x for x, _ in pts], y=[y for _, y in pts], name=name) for name, pts in series.items()])
        fig.update_layout(title=title, barmode="stack", xaxis_title="round", yaxis_title=y_title, xaxis_dtick=1)
        return fig

    def series(path: Iterable[str], names: Iterable[str] | None = None, scale: float = 1.0) -> dict[str, list]:
        """{name: [(round, value)]} of the numbers under `path` in each round's metrics."""
        out: dict[str, list] = {}
        for m in rounds:
            node = _get(m, path)
            if isinstance(node, dict):
                for name in names or node:
                    if isinstance(node.get(name), (int, float)) and not isinstance(node.get(name), bool):
                        out.setdefault(name, []).append((m["round"], scale * node[name]))
        return out

    score_name = next((m["eval"].get("score_name") for m in rounds if "eval" in m), "score")
    per_opponent: dict[str, list] = {}  # a game's win, draw and loss rates against each eval opponent
    for m in rounds:
        for opponent, result in (_get(m, ["eval", "vs"]) or {}).items():
            for outcome in ("win", "draw", "loss"):
                per_opponent.setdefault(f"vs {opponent}: {outcome}", []).append((m["round"], 100 * result[outcome]))
    # the first versions named a solo run's results accuracy_by_level and accuracy
    columns = series(["eval", "columns"], scale=100) or {f"L{k}": v for k, v in series(
        ["eval", "accuracy_by_level"], scale=100).items()}
    score = "score" if any(isinstance(_get(m, ["eval", "score"]), (int, float)) for m in rounds) else "accuracy"
    heldout = {**columns, **per_opponent, "score": [(m["round"], 100 * m["eval"][score]) for m in rounds
                                                    if isinstance(_get(m, ["eval", score]), (int, float))]}
    envs = list(dict.fromkeys(env for m in rounds for env in m.get("qdc", {})))
    figures = [("heldout", lines(f"{score_name} per round (%)", heldout, "%")),
               ("rating", lines("League rating (openskill ordinal, μ − 3σ)", series(["eval", "rating"], ["ordinal", "mu"])))]
    for env in envs:
        for group, title in (("quality", "Quality"), ("diversity", "Diversity"), ("complexity", "Complexity")):
            values = series(["qdc", env, group])
            vendi = {"vendi": values.pop("vendi")} if "vendi" in values else {}
            figures.append((f"{group}-{env}", lines(f"{title} of the generated answers, {env}", values)))
            if vendi:
                figures.append((f"vendi-{env}", lines(f"Vendi score of the answers' embeddings, {env}", vendi,
                                                      "effective number of distinct answers")))
    figures += [
        ("balance", lines("Exploration and exploitation (B-STaR)",
                          series(["balance"], ["pass_at_k", "unique_correct", "precision", "balance"]))),
        ("probe", lines("Temperature the balance probe chose", series(["probe"], ["temperature", "threshold"]))),
        ("curation", bars("Episodes kept and dropped by reason", {
            "kept": [(m["round"], m["curate"]["kept"]) for m in rounds if "curate" in m],
            **{f"dropped: {k}": v for k, v in series(["curate", "dropped"]).items()}}, "episodes")),
        ("proposals", lines("The model's own problems (task 'propose'): shares and mean p̂ (%)", series(
            ["rollout", "proposals"], ["valid", "novel", "learnable", "p_hat", "beyond_levels"], scale=100), "%")),
        ("proposal-operations", bars("Admitted proposals by operations (where the curriculum went)", {
            f"{k} op": v for k, v in series(["rollout", "proposals", "operations"]).items()}, "proposals")),
        ("rows", lines("Training rows", series(["dataset"], ["rows", "problems", "pairs"]))),
        ("seconds", bars("Seconds per stage", series(["seconds"]), "seconds")),
    ]
    drawn = [(key, fig) for key, fig in figures if fig is not None]
    absent = [key for key, fig in figures if fig is None and key not in ("rating", "probe", "proposals", "proposal-operations")] + ([] if envs else ["qdc"])
    if rounds and absent:
        missing.append("no data for: " + ", ".join(absent) + " (a run from an older version, or rounds not yet run)")
    divs = []
    for key, fig in drawn:
        fig.update_layout(template="plotly_white", height=340, margin=dict(l=50, r=20, t=50, b=40))
        divs.append(f'<div class="plot" data-plot="{html.escape(key)}">'
                    f'{fig.to_html(full_html=False, include_plotlyjs=False, div_id="plot-" + key, config=PLOT_CONFIG)}</div>')
    return f'<h2>Per round</h2><div class="grid">{"".join(divs)}</div>'


def _get(node: Any, path: Iterable[str]) -> Any:
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


# --- text sections ---------------------------------------------------------------------------------
def _header(root: Path, rounds: list[dict[str, Any]], missing: list[str]) -> str:
    config = (root / "config.toml").read_text() if (root / "config.toml").exists() else "(no config.toml)"
    rows = "".join(
        f"<tr><td>{m['round']}</td><td>{percent_text(_get(m, ['eval', 'score'])) or '-'}</td>"
        f"<td>{_get(m, ['dataset', 'rows']) if _get(m, ['dataset', 'rows']) is not None else '-'}</td>"
        f"<td>{'' if m.get('promoted', True) else 'not promoted'}</td>"
        f"<td>{html.escape(str(m.get('model', '')))}</td></tr>" for m in rounds)
    return (f"<h1>sparring run {html.escape(root.name)}</h1>"
            f"<table><tr><th>round</th><th>score %</th><th>rows</th><th>promotion</th><th>model</th></tr>{rows}</table>"
            f"<details><summary>config.toml</summary><pre>{html.escape(config)}</pre></details>")


def _alarms(root: Path, rounds: list[dict[str, Any]], missing: list[str]) -> str:
    found = [a for m in rounds for a in m.get("alarms", [])]
    items = "".join(f"<li>{html.escape(a)}</li>" for a in found) or "<li>none</li>"
    return f'<h2>Alarms</h2><ul class="alarms">{items}</ul>'


def _missing(missing: list[str]) -> str:
    items = "".join(f"<li>{html.escape(m)}</li>" for m in missing)
    return f'<h2>Missing</h2><ul class="missing">{items}</ul>' if missing else ""


def _samples(root: Path, rounds: list[dict[str, Any]], missing: list[str]) -> str:
    """Best, worst and random training episodes of every round, by the trained seats' mean reward."""
    path = root / "episodes.sqlite"
    if not path.exists():
        missing.append("episodes.sqlite: no stored episode to show")
        return ""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)  # read-only: the run may be writing
    try:
        played = sorted({r for (r,) in db.execute("SELECT DISTINCT round FROM episodes WHERE stage = 'train'")})
        parts = []
        for r in played:
            episodes, unreadable = [], Counter()
            for (data,) in db.execute("SELECT data FROM episodes WHERE round = ? AND stage = 'train' ORDER BY rowid",
                                      (r,)):
                try:
                    episodes.append(Episode.from_dict(json.loads(data)))
                except (ValueError, TypeError, KeyError) as e:  # written by another version of sparring
                    unreadable[f"{type(e).__name__}: {e}"] += 1
            for why, n in unreadable.items():
                missing.append(f"round {r}: {n} stored episodes could not be read ({why}; an older version wrote them)")
            parts.append(_round_samples(r, episodes))
    finally:
        db.close()
    return "<h2>Sample episodes</h2>" + "".join(parts)


def _round_samples(r: int, episodes: list[Episode]) -> str:
    from sparring.policies import TRAINED

    def reward(e: Episode) -> float:
        mine = [e.rewards[s] for s in e.seats_of(TRAINED)] or list(e.rewards) or [0.0]
        return sum(mine) / len(mine)

    ranked = sorted((e for e in episodes if e.rewards), key=reward)
    best, worst = ranked[::-1][:SAMPLES], ranked[:SAMPLES]
    rest = [e for e in ranked if e not in best and e not in worst]
    shown = [("best", best), ("worst", worst), ("random", random.Random(r).sample(rest, min(SAMPLES, len(rest))))]
    body = "".join(f"<h4>{kind}</h4>" + "".join(_episode(e, reward(e)) for e in chosen) for kind, chosen in shown)
    return f"<details><summary>round {r}: {len(episodes)} episodes</summary>{body}</details>"


def _episode(e: Episode, reward: float) -> str:
    turns = "".join(
        f'<div class="turn{"" if t.legal else " illegal"}"><div class="who">turn {i + 1} · seat {t.seat} · '
        f"{html.escape(e.policies[t.seat])}{'' if t.legal else ' · illegal'}</div>"
        f"<pre class=\"prompt\">{html.escape(t.prompt[-1].content if t.prompt else '')}</pre>"
        f'<pre class="answer">{html.escape(t.completion.text)}</pre></div>' for i, t in enumerate(e.turns))
    return (f'<details class="episode"><summary>{html.escape(e.id)} · {html.escape(e.env_id)} · reward '
            f"{reward:+.2f} · rewards {list(e.rewards)} · {len(e.turns)} turns · {html.escape(e.end_reason)}</summary>"
            f"{turns}</details>")


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>sparring · {title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #222; }}
.grid {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 12px; }}
table {{ border-collapse: collapse; }} td, th {{ padding: 2px 10px; border-bottom: 1px solid #ddd; text-align: right; }}
pre {{ white-space: pre-wrap; margin: 2px 0; padding: 4px; background: #f6f6f6; }}
.answer {{ background: #eef5ff; }} .illegal .answer {{ background: #fdecea; }}
.turn {{ margin: 6px 0 6px 16px; }} .who {{ font-size: 12px; color: #666; }}
.alarms li {{ color: #a15c00; }} .missing li {{ color: #777; }}
</style>
<script type="text/javascript">{plotly}</script></head>
<body>
{body}
</body></html>
"""
