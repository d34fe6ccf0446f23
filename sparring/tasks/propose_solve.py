"""propose: the model writes its own problems and answers them (R-Zero, Absolute Zero, SQLM).

A round plays in two passes. The proposer (`propose.proposer`: the trained policy by default)
answers `propose.prompts` prompts of the proposer env, `proposals_per_prompt` samples each; a prompt
shows the env's own problems as seeds, then problems of the previous round the solver never solved
and, last, ones its reward favoured (the edge: solved only sometimes, new, not already known). Then
the trained policy answers every admitted proposal `solver_samples` times in the run's env
(arithmetic-v0 given the proposal as its problem: the label comes from the evaluator, never from the
solver's vote), and once greedily where the reward discounts what it already knows
(`propose.reward.known_discount`). `score` then rewards each proposal from the solver's answers, the
rest of its batch and the archive of the run's earlier proposals (sparring/tasks/propose.py): a pure
function of stored episodes, so a resumed round scores the same. Training sees the solver's answers
to proposals whose p̂ lies in `solver_band` and, every `proposer_every` rounds, the proposals. A
checkpoint is judged as in solo: greedy held-out accuracy per level of the run's env. With
`propose.policies = "per-role"` each role has its own checkpoint, trained on its own rows, and the
solver's is judged.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import replace
from statistics import mean
from typing import AbstractSet, Any, Sequence

from sparring.engine import EpisodeSpec
from sparring.envs import ENVS, make_env
from sparring.errors import SparringError, UnknownIdError
from sparring.ratings import BASE
from sparring.policies import POLICIES, TRAINED, TRAINED_GREEDY
from sparring.policies.checkpoints import Model
from sparring.seeds import derive_seed
from sparring.store import EpisodeStore
from sparring.tasks.propose import Proposal, score_proposals
from sparring.tasks.solo import TRAIN_SEED_LIMIT, SoloTask
from sparring.types import Episode

PROPOSER, SOLVER = "proposer", "solver"
GREEDY = "greedy"  # the `sample` tag of the solver's greedy answer to a proposal: a measure, not a training row
RECIPES_TRAINING_BOTH_ROLES = ("rest-em", "reinforce")  # they train on any seat's own rewards


class ProposeSolveTask(SoloTask):
    def __init__(self, cfg):
        super().__init__(cfg)
        self.propose = cfg.propose
        self.store = None
        self._archives: dict[int, frozenset[str]] = {}

    def check(self) -> None:
        super().check()
        pc, cfg = self.propose, self.cfg
        ENVS.entry(pc.env)  # an unknown env fails with the closest ids
        solver_env = getattr(ENVS.load(pc.env), "solver_env", None)
        if solver_env is None:
            raise SparringError(f"propose.env: {pc.env} is not a proposer env: it must read a reply into a problem "
                                "with an exact answer and name the env that poses it (solver_env)")
        if solver_env != cfg.env:
            raise SparringError(f"propose.env: {pc.env} writes problems for {solver_env}, and this run's env is "
                                f"{cfg.env}; set env = \"{solver_env}\"")
        try:
            make_env(pc.env, seed_examples=pc.seed_examples, seed_levels=pc.seed_levels)
        except ValueError as e:  # its message names the setting
            raise SparringError(f"propose.{e}") from None
        if pc.proposer not in (TRAINED, BASE):
            try:
                POLICIES.entry(pc.proposer)
            except UnknownIdError as e:
                raise SparringError(f"propose.proposer: {e.args[0]} (or 'policy', the trained model, or 'base', "
                                    "the base model)") from None
        if cfg.recipe not in RECIPES_TRAINING_BOTH_ROLES:
            raise SparringError(f"task 'propose' trains with {' or '.join(RECIPES_TRAINING_BOTH_ROLES)} (they learn "
                                f"from each role's own rewards); recipe is {cfg.recipe}")
        if pc.policies == "per-role" and pc.proposer != TRAINED:
            raise SparringError(f"propose.policies = 'per-role' trains a proposer checkpoint of its own, and the "
                                f"proposer is {pc.proposer!r}: set propose.proposer = '{TRAINED}', or policies = 'shared'")
        if cfg.balance.enabled:
            raise SparringError("balance probes a fixed plan of problems; task 'propose' writes its problems as it "
                                "goes: set balance.enabled = false")

    def prepare(self, run_dir) -> str:
        self.store = run_dir.store
        return super().prepare(run_dir)

    def plan(self, r: int, history: list[dict[str, Any]], played: Sequence[Episode] = ()
             ) -> tuple[list[EpisodeSpec], dict[str, Any]]:
        """The proposer's episodes; and, once they are `played`, k solver episodes per admitted proposal."""
        pc = self.propose
        edge, failed = self._last_results(r)
        rng = random.Random(f"{self.cfg.seed}/round{r}/propose")
        specs = []
        for p in range(pc.prompts):
            seed = rng.randrange(TRAIN_SEED_LIMIT)
            shown = random.Random(seed)
            kwargs = {"edge": shown.sample(edge, min(pc.examples, len(edge))),
                      "failed": shown.sample(failed, min(pc.examples, len(failed))), "seed_examples": pc.seed_examples,
                      "seed_levels": pc.seed_levels}
            for m in range(pc.proposals_per_prompt):
                specs.append(EpisodeSpec(id=f"r{r}/propose/{p}/{m}", env_id=pc.env, seed=seed, policies=(pc.proposer,),
                                         roles=(PROPOSER,), env_kwargs=kwargs, tags={"stage": "train", "role": PROPOSER, "prompt": p,
                                                                  "sample": m}))
        admitted = sorted((e for e in played if e.tags.get("role") == PROPOSER and e.has_outcome and e.turns
                           and e.turns[-1].legal), key=lambda e: (e.tags["prompt"], e.tags["sample"]))
        for e in admitted:
            p, m = e.tags["prompt"], e.tags["sample"]
            seed = derive_seed(self.cfg.seed, "solve", r, p, m) % TRAIN_SEED_LIMIT  # one problem per proposal
            answers = [(TRAINED, k) for k in range(pc.solver_samples)]
            if pc.reward.known_discount > 0:
                answers.append((TRAINED_GREEDY, GREEDY))
            for policy, k in answers:
                specs.append(EpisodeSpec(id=f"r{r}/solve/{p}/{m}/{k}", env_id=self.cfg.env, seed=seed,
                                         policies=(policy,), roles=(SOLVER,), env_kwargs={"problem": e.info["proposal"]},
                                         tags={"stage": "train", "role": SOLVER, "proposal": e.id, "sample": k}))
        return specs, {"proposer": pc.proposer, "shown_edge": len(edge), "shown_failed": len(failed)}

    def _last_results(self, r: int) -> tuple[list[str], list[str]]:
        """The previous round's proposals at the edge (a positive reward: solved only sometimes, new, and
        not known greedily where that is asked), and those the solver never solved. Showing the always
        solved ones instead (they are the smallest sums) drove the 135M proposer to ever smaller sums:
        it writes problems like the last ones shown."""
        if r <= 1 or self.store is None:
            return [], []
        scored, _ = self.score(r - 1, self.store.episodes(r - 1, "train"))
        proposals = [e for e in scored if e.tags.get("role") == PROPOSER and e.info.get("p_hat") is not None]
        edge = sorted({e.info["proposal"] for e in proposals if e.rewards[0] > 0})
        failed = sorted({e.info["proposal"] for e in proposals if e.info["p_hat"] == 0})
        return edge, failed

    def archive(self, r: int) -> frozenset[str]:
        """The canonical forms of every proposal admitted in the run's rounds before r (read once: those
        rounds are done, and both scoring and the round's measures ask)."""
        if self.store is None:
            return frozenset()
        if r not in self._archives:
            self._archives[r] = frozenset(e.info["canonical"] for q in range(1, r) for e in self.store.episodes(q, "train")
                                          if e.tags.get("role") == PROPOSER and "canonical" in e.info)
        return self._archives[r]

    def score(self, r: int, episodes: Sequence[Episode]) -> tuple[list[Episode], list[Episode]]:
        """Every episode with its final reward (a proposal's, from the solver's answers and the batch:
        its p̂, novelty, cluster and guessability recorded in its info), and those training sees."""
        pc = self.propose
        rates, greedy = solve_rates(episodes), greedy_results(episodes)
        proposals = [e for e in episodes if e.tags.get("role") == PROPOSER]
        facts = [proposal_facts(e, rates.get(e.id, (0, 0)), greedy.get(e.id)) for e in proposals]
        archive = self.archive(r)
        rewards = score_proposals(facts, archive, pc.reward)
        scored = {e.id: replace(e, rewards=(reward,), info={**e.info, "p_hat": f.p_hat, "greedy_right": f.greedy_right,
                                                            "novel": f.valid and not f.copied
                                                            and f.canonical not in archive, "solver_reward": e.rewards[0]})
                  for e, f, reward in zip(proposals, facts, rewards)}
        everything = [scored.get(e.id, e) for e in episodes]
        lo, hi = pc.solver_band
        in_band = {e.id for e, f in zip(proposals, facts) if f.p_hat is not None and lo <= f.p_hat <= hi}
        trains_proposer = pc.proposer == TRAINED and pc.proposer_every > 0 and (r - 1) % pc.proposer_every == 0
        training = [e for e in everything if (e.tags.get("role") == SOLVER and e.tags["proposal"] in in_band
                                              and e.tags["sample"] != GREEDY)
                    or (trains_proposer and e.tags.get("role") == PROPOSER)]
        return everything, training

    def training_roles(self, rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]] | None:
        """Per-role, each role's rows (a checkpoint each: sparring/recipes/training.train_roles); shared, None."""
        if self.propose.policies == "shared":
            return None
        return {PROPOSER: [x for x in rows if x["env_id"] == self.propose.env],
                SOLVER: [x for x in rows if x["env_id"] == self.cfg.env]}

    def evaluate(self, model: Model, store: EpisodeStore, provenance: dict[str, Any], progress=None) -> dict[str, Any]:
        """The solver judged as in solo (per-role: the solver's checkpoint)."""
        return super().evaluate(model.role(SOLVER), store, provenance, progress)

    def rollout_metrics(self, episodes: Sequence[Episode]) -> dict[str, Any]:
        proposals = [e for e in episodes if e.tags.get("role") == PROPOSER and e.has_outcome]
        r = proposals[0].provenance["round"] if proposals else 0
        return {"proposals": proposal_metrics(proposals, self.archive(r))}


def solve_rates(episodes: Sequence[Episode]) -> dict[str, tuple[int, int]]:
    """{proposal episode id: (right answers, answers)} from a round's sampled solver episodes."""
    rates: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for e in episodes:
        if e.tags.get("role") == SOLVER and e.tags["sample"] != GREEDY and e.has_outcome:
            rate = rates[e.tags["proposal"]]
            rate[0] += e.rewards[0] >= 1.0
            rate[1] += 1
    return {i: (right, k) for i, (right, k) in rates.items()}


def greedy_results(episodes: Sequence[Episode]) -> dict[str, bool]:
    """{proposal episode id: whether the solver's greedy answer was right} where it gave one."""
    return {e.tags["proposal"]: e.rewards[0] >= 1.0 for e in episodes
            if e.tags.get("role") == SOLVER and e.tags["sample"] == GREEDY and e.has_outcome}


def proposal_facts(e: Episode, rate: tuple[int, int], greedy_right: bool | None = None) -> Proposal:
    if not (e.has_outcome and e.turns and e.turns[-1].legal):
        return Proposal(valid=False)
    info = e.info
    return Proposal(valid=True, canonical=info["canonical"], shape=info["shape"], answer=info["answer"],
                    literals=tuple(info["literals"]), copied=info.get("copied", False), solved=rate[0], k=rate[1],
                    greedy_right=greedy_right)


def by_size(proposals: Sequence[Episode], measure: str) -> dict[str, int]:
    """How many proposals have each value of `measure`, keyed as JSON keeps it (text)."""
    return {str(k): n for k, n in sorted(Counter(e.info[measure] for e in proposals).items())}


LEVEL_CEILING = {"operations": 3, "max_digits": 3}  # arithmetic-v0's level 8: four 3-digit numbers, three operations
LEARNABLE = (0.25, 0.75)  # R-Zero's band: p̂ where its learnability is at least 0.5


def proposal_metrics(proposals: Sequence[Episode], archive: AbstractSet[str]) -> dict[str, Any]:
    """A round's proposals (scored): valid, novel and learnable shares (p̂ in R-Zero's band), the
    share the solver answered right greedily (where it was asked), mean p̂ and reward, their size, the
    share beyond the env's hardest level, and the distinct canonical forms of the run so far."""
    if not proposals:
        return {"count": 0}
    valid = [e for e in proposals if e.turns and e.turns[-1].legal]
    valid_ids = {e.id for e in valid}
    played = [e for e in valid if e.info.get("p_hat") is not None]
    lo, hi = LEARNABLE
    share = lambda part, whole: len(part) / len(whole) if whole else None  # noqa: E731
    asked = [e for e in valid if e.info.get("greedy_right") is not None]
    beyond = [e for e in valid if any(e.info[k] > v for k, v in LEVEL_CEILING.items())]
    return {
        "count": len(proposals),
        "valid": share(valid, proposals),
        "novel": share([e for e in valid if e.info.get("novel")], valid),
        "learnable": share([e for e in played if lo <= e.info["p_hat"] <= hi], valid),
        "known": share([e for e in asked if e.info["greedy_right"]], asked),
        "p_hat": mean(e.info["p_hat"] for e in played) if played else None,
        "reward": mean(e.rewards[0] for e in proposals),
        "operations": by_size(valid, "operations"),
        "max_digits": by_size(valid, "max_digits"),
        "result_digits": by_size(valid, "result_digits"),
        "beyond_levels": share(beyond, valid),
        "distinct_so_far": len(archive | {e.info["canonical"] for e in valid}),
        "rejected": dict(Counter(e.info.get("rejected", "?") for e in proposals if e.id not in valid_ids).most_common(5)),
    }
