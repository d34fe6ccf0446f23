"""The curate stage: which of a round's episodes the recipe builds its training rows from.

It runs between rollout and build. Each episode meets these filters in order, and the first that
drops it names the reason counted in the round's metrics:

  contaminated    its prompts share `contamination_threshold` of their word n-grams with the run's
                  evaluation set (held-out problems)
  duplicate       the same prompts and answers (after lower-casing and collapsing white space) as an
                  episode kept before it, this round or any earlier round of the run
  near_duplicate  the same prompts and answers that MinHash LSH (datasketch) finds at least
                  `near_duplicate_jaccard` alike in character shingles, against the same kept episodes
  selection       not among the best `select_top` of its problem: passing episodes first, then by
                  the registered selection objective ("active inheritance": shortest, rarest words)
  quota           beyond `quota` episodes of its group (env, level, seat: `quota_by`), taking every
                  problem's best episode before any problem's second
  error           a filter raised on this episode (the message is kept); the round goes on

Near-duplicates are only looked for among episodes with the same prompts: the shingles of an answer
carry a hash of the prompts it answers, so two different problems are never near-duplicates however
alike their templated text. Every filter is a pure function; `curate_round` is the stage, which
stores what it decided in rounds/<r>/curate.json so that a resumed round decides the same.

After build, `mixed_rows` adds a fixed fraction of reference rows (the env's reference solutions, or
a user's prompt/answer file) to recipes whose rows are SFT rows: training on curated self-output
alone drifts toward the curator's biases unless real data stays in the mix (Ferbach et al. 2024).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Sequence

from pydantic import Field, model_validator

from sparring.errors import SparringError, UnknownIdError
from sparring.files import write_atomically
from sparring.policies import TRAINED
from sparring.qdc import answers_of, words
from sparring.registry import Registry
from sparring.sections import Section
from sparring.types import Episode, id_order

REASONS = ("contaminated", "duplicate", "near_duplicate", "selection", "quota", "error")


class CurateConfig(Section):
    shapes = "build"

    dedup: bool = Field(True, description="drop exact and near-duplicate episodes, within the round and across rounds")
    near_duplicate_jaccard: float = Field(0.8, gt=0, le=1, description="MinHash Jaccard at which two answers "
                                                                       "to the same prompts are near-duplicates")
    minhash_permutations: int = Field(128, ge=16)
    shingle_chars: int = Field(5, ge=1, description="characters per shingle of an answer")
    decontaminate: bool = Field(True, description="drop episodes whose prompts overlap the evaluation set")
    contamination_ngram: int = Field(8, ge=1, description="word n-grams compared (a shorter text is one n-gram)")
    contamination_threshold: float = Field(0.5, gt=0, le=1, description="share of a prompt's n-grams found in "
                                                                         "the evaluation set that drops it")
    select: str | None = Field(None, description="selection objective ranking each problem's episodes "
                                                 "(shortest, rarest) [default: the order played]")
    select_top: int | None = Field(None, ge=1, description="keep only the best n episodes of each problem")
    quota_by: list[Literal["env", "level", "seat"]] = Field(default_factory=list,
                                                            description="what a quota group is made of")
    quota: int | None = Field(None, ge=1, description="episodes kept per quota group")
    mix_fraction: float = Field(0.0, ge=0, lt=1, description="share of each round's training rows that are "
                                                             "reference rows (SFT recipes)")
    mix_source: str = Field("reference", description="'reference' (the env's reference solutions) or a JSONL "
                                                     "or Parquet file of prompt/answer rows")

    @model_validator(mode="after")
    def _quota_complete(self):
        if bool(self.quota_by) != (self.quota is not None):
            raise ValueError("quota and quota_by go together: quota = <episodes per group>, quota_by = "
                             "[\"env\" | \"level\" | \"seat\", ...]")
        return self


# --- selection objectives: higher is better, given one answer and the word counts of the round ----
Objective = Callable[[str, Counter], float]
SELECTIONS: Registry[Objective] = Registry("selection objective", "sparring.selections")
SELECTIONS.register("shortest", "sparring.curate:shortest", "prefer the answer with the fewest characters")
SELECTIONS.register("rarest", "sparring.curate:rarest", "prefer the answer whose words are rarest in the round")


def shortest(answer: str, word_counts: Counter) -> float:
    return -len(answer.strip())


def rarest(answer: str, word_counts: Counter) -> float:
    """Mean surprisal (bits) of the answer's words among all the round's answer words."""
    total = sum(word_counts.values())
    mine = words(answer)
    return sum(-math.log2(word_counts[w] / total) for w in mine) / len(mine) if mine and total else 0.0


# --- pure filters ------------------------------------------------------------------------------
def normalize(text: str) -> str:
    return " ".join(text.lower().split())


def ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    """Word n-grams of the text; a text of fewer than n words is one n-gram."""
    w = words(text)
    return {tuple(w[i:i + n]) for i in range(len(w) - n + 1)} if len(w) >= n else ({tuple(w)} if w else set())


def contamination(texts: Sequence[str], evaluation: set[tuple[str, ...]], n: int) -> float:
    """The share of the texts' word n-grams that occur in the evaluation set's n-grams."""
    grams = set().union(*(ngrams(t, n) for t in texts))
    return len(grams & evaluation) / len(grams) if grams else 0.0


def shingles(exchanges: Sequence[tuple[str, str]], k: int) -> frozenset[str]:
    """Character k-shingles of each answer, prefixed by a hash of the prompt it answers."""
    out = set()
    for prompt, answer in exchanges:
        tag, text = hashlib.sha1(normalize(prompt).encode()).hexdigest()[:12], normalize(answer)
        out |= {tag + text[i:i + k] for i in range(max(1, len(text) - k + 1))}
    return frozenset(out)


def exact_key(exchanges: Sequence[tuple[str, str]]) -> str:
    return hashlib.sha1(json.dumps([[normalize(p), normalize(a)] for p, a in exchanges]).encode()).hexdigest()


def quota_keep(groups: Sequence[Any], quota: int) -> list[bool]:
    """Keep the first `quota` items of each group, in the order given."""
    seen: Counter = Counter()
    keep = []
    for g in groups:
        seen[g] += 1
        keep.append(seen[g] <= quota)
    return keep


class NearDuplicates:
    """A MinHash LSH index (datasketch) of kept answers; `find` returns a kept id at least `jaccard`
    alike by the MinHash estimate. Seeded, so the same texts give the same answer in every process."""

    def __init__(self, jaccard: float, permutations: int):
        from datasketch import MinHashLSH

        self.jaccard, self.permutations = jaccard, permutations
        self._lsh = MinHashLSH(threshold=jaccard, num_perm=permutations)
        self._hashes: dict[str, Any] = {}

    def minhash(self, shingle_set: frozenset[str]):
        from datasketch import MinHash

        m = MinHash(num_perm=self.permutations, seed=1)
        m.update_batch([s.encode() for s in sorted(shingle_set)])
        return m

    def find(self, m) -> str | None:
        return next((key for key in sorted(self._lsh.query(m)) if self._hashes[key].jaccard(m) >= self.jaccard), None)

    def add(self, key: str, m) -> None:
        self._lsh.insert(key, m)
        self._hashes[key] = m


# --- the stage ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Curated:
    kept: list[Episode]  # in the order the recipe should prefer them: each problem's best first
    dropped: dict[str, str] = field(default_factory=dict)  # episode id -> reason ("error: ..." with its message)

    def counts(self) -> dict[str, Any]:
        reasons = Counter(reason.split(":")[0] for reason in self.dropped.values())
        return {"kept": len(self.kept), "dropped": {r: reasons[r] for r in REASONS if reasons[r]}}

    def ids(self, reason: str) -> set[str]:
        return {i for i, why in self.dropped.items() if why.split(":")[0] == reason}


def exchanges(e: Episode) -> list[tuple[str, str]]:
    """(prompt, answer) of every turn the trained policy played: the prompt's messages joined."""
    seats = set(e.seats_of(TRAINED))
    return [("\n".join(m.content for m in t.prompt), t.completion.text) for t in e.turns if t.seat in seats]


def asked(e: Episode) -> list[str]:
    """The user messages the trained policy was asked: the text compared with the evaluation set."""
    seats = set(e.seats_of(TRAINED))
    return list(dict.fromkeys(m.content for t in e.turns if t.seat in seats for m in t.prompt if m.role == "user"))


def problem_of(e: Episode) -> tuple:
    return e.env_id, e.seed, json.dumps(e.info.get("level"))


def group_of(e: Episode, by: Sequence[str]) -> tuple:
    parts = {"env": lambda: e.env_id, "level": lambda: e.info.get("level"), "seat": lambda: tuple(e.seats_of(TRAINED))}
    return tuple(parts[name]() for name in by)


def curate(episodes: Sequence[Episode], earlier: Sequence[Episode], cfg: CurateConfig, evaluation_texts: Sequence[str],
           pass_line: dict[str, float]) -> Curated:
    """Keep or drop each episode with an outcome (see the module docstring); `earlier` are the
    episodes kept in the run's earlier rounds, `pass_line[env id]` the reward above which a seat passed."""
    dropped: dict[str, str] = {}

    def guarded(e: Episode, step: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except Exception as exc:  # a filter failing on one episode drops it, never the round
            dropped[e.id] = f"error: {step}: {type(exc).__name__}: {exc}"
            return None

    played = sorted((e for e in episodes if e.has_outcome), key=lambda e: id_order(e.id))
    evaluation = set().union(*(ngrams(t, cfg.contamination_ngram) for t in evaluation_texts))
    seen: set[str] = set()
    index = NearDuplicates(cfg.near_duplicate_jaccard, cfg.minhash_permutations) if cfg.dedup else None
    if index is not None:
        for e in earlier:
            seen.add(exact_key(exchanges(e)))
            index.add(e.id, index.minhash(shingles(exchanges(e), cfg.shingle_chars)))
    survivors = []
    for e in played:
        if cfg.decontaminate and evaluation_texts:
            share = guarded(e, "decontaminate", lambda: contamination(asked(e), evaluation, cfg.contamination_ngram))
            if share is None:
                continue
            if share >= cfg.contamination_threshold:
                dropped[e.id] = "contaminated"
                continue
        if index is not None:
            found = guarded(e, "dedup", lambda: _duplicate(e, seen, index, cfg))
            if found is None:
                continue
            if found != "unique":
                dropped[e.id] = found
                continue
        survivors.append(e)

    objective = SELECTIONS.load(cfg.select) if cfg.select else None
    word_counts = Counter(w for e in survivors for a in answers_of(e) for w in words(a))
    scores = {}
    for e in survivors:
        score = guarded(e, "select", lambda: objective("\n".join(answers_of(e)), word_counts)) if objective else 0.0
        if score is not None:
            scores[e.id] = score
    by_problem: dict[tuple, list[Episode]] = defaultdict(list)
    for e in survivors:
        if e.id in scores:
            by_problem[problem_of(e)].append(e)
    ranked = []  # (rank within its problem, episode)
    for group in by_problem.values():
        group.sort(key=lambda e: (not _passed(e, pass_line), -scores[e.id]))  # stable: ties stay in played order
        for rank, e in enumerate(group):
            if cfg.select_top is not None and rank >= cfg.select_top:
                dropped[e.id] = "selection"
            else:
                ranked.append((rank, e))
    ranked.sort(key=lambda item: item[0])  # stable: every problem's best, then every second best, ...
    if cfg.quota is not None:
        groups = [guarded(e, "quota", lambda: group_of(e, cfg.quota_by)) for _, e in ranked]
        keep = quota_keep(groups, cfg.quota)
        for (_, e), group, ok in zip(ranked, groups, keep):
            if group is not None and not ok:
                dropped[e.id] = "quota"
    order = {problem: i for i, problem in enumerate(by_problem)}
    kept = sorted((item for item in ranked if item[1].id not in dropped), key=lambda item: (order[problem_of(item[1])], item[0]))
    return Curated([e for _, e in kept], dropped)


def _duplicate(e: Episode, seen: set[str], index: NearDuplicates, cfg: CurateConfig) -> str:
    """'duplicate', 'near_duplicate' or 'unique'; a unique episode joins the kept ones."""
    pairs = exchanges(e)
    key = exact_key(pairs)
    if key in seen:
        return "duplicate"
    m = index.minhash(shingles(pairs, cfg.shingle_chars))
    if index.find(m) is not None:
        return "near_duplicate"
    seen.add(key)
    index.add(e.id, m)
    return "unique"


def _passed(e: Episode, pass_line: dict[str, float]) -> bool:
    seats = e.seats_of(TRAINED)
    return bool(seats) and all(e.rewards[s] > pass_line[e.env_id] for s in seats)


def curate_round(run_dir, r: int, episodes: Sequence[Episode], cfg: CurateConfig, evaluation_texts: Sequence[str],
                 pass_line: dict[str, float]) -> Curated:
    """Round r's curation: decided once and stored (rounds/<r>/curate.json), read back on resume."""
    path = run_dir.round_dir(r) / "curate.json"
    by_id = {e.id: e for e in episodes}
    if path.exists():
        stored = json.loads(path.read_text())
        return Curated([by_id[i] for i in stored["kept"]], stored["dropped"])
    curated = curate(episodes, kept_before(run_dir, r), cfg, evaluation_texts, pass_line)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps({"kept": [e.id for e in curated.kept], "dropped": curated.dropped}))
    return curated


def kept_before(run_dir, r: int) -> list[Episode]:
    """The episodes the run's rounds before r kept (a round from before the curate stage: all it played)."""
    kept = []
    for earlier in range(1, r):
        path = run_dir.round_dir(earlier) / "curate.json"
        played = run_dir.store.episodes(earlier, "train")
        ids = set(json.loads(path.read_text())["kept"]) if path.exists() else {e.id for e in played}
        kept += [e for e in played if e.id in ids]
    return kept


def check(cfg, recipe) -> None:
    """Fail before any work where the run's `[curate]` section cannot work with its env or recipe."""
    from sparring.envs import ENVS
    from sparring.references import load_references

    c = cfg.curate
    if c.select is not None:
        try:
            SELECTIONS.entry(c.select)
        except UnknownIdError as e:
            raise SparringError(f"curate.select: {e.args[0]}") from None
    if c.mix_fraction:
        if not recipe.takes_mixed_rows:
            raise SparringError(f"curate.mix_fraction: {recipe.name}'s rows are not SFT rows that reference rows can "
                                "join; mixing works with rest-em (spin mixes in references by design)")
        if c.mix_source == "reference":
            if missing := [env_id for env_id in cfg.env_ids if not hasattr(ENVS.load(env_id), "reference_solution")]:
                raise SparringError(f"curate.mix_source: {missing[0]} has no reference_solution(); give a JSONL or "
                                    "Parquet file of prompt/answer rows instead")
        else:
            load_references(c.mix_source, "curate.mix_source")


# --- mixing reference rows into a round's SFT rows ------------------------------------------------
def mixed_rows(rows: list[dict[str, Any]], kept: Sequence[Episode], cfg: CurateConfig, seed: int) -> list[dict[str, Any]]:
    """`rows` (marked source "model") and as many reference rows as make them `mix_fraction` of the
    whole: reference solutions of the round's problems, or rows drawn from the user's file."""
    from sparring.recipes.base import sft_row
    from sparring.references import env_reference, load_references

    wanted = round(len(rows) * cfg.mix_fraction / (1 - cfg.mix_fraction))
    rng = random.Random(seed)
    mixed = []
    if cfg.mix_source == "reference":
        firsts = {}
        for e in kept:
            for seat in e.seats_of(TRAINED):
                firsts.setdefault((problem_of(e), seat), (e, seat))
        for e, seat in rng.sample(sorted(firsts.values(), key=lambda item: id_order(item[0].id)),
                                  min(wanted, len(firsts))):
            turn = next(t for t in e.turns if t.seat == seat)
            mixed.append({**sft_row(e, seat, turn, env_reference(e)), "reward": None, "source": "reference"})
    elif wanted:
        pairs = sorted(load_references(cfg.mix_source, "curate.mix_source").items())
        template = rows[0]
        for prompt, answer in rng.sample(pairs, min(wanted, len(pairs))):
            mixed.append({**{k: None for k in template}, "prompt": [{"role": "user", "content": prompt}],
                          "completion": [{"role": "assistant", "content": answer}], "source": cfg.mix_source})
    return [{**row, "source": "model"} for row in rows] + mixed

