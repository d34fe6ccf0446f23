"""bargaining-v1: GLEE's alternating-offers bargaining over M = 10,000 coins, discounted each round.

**The game.** In round r (1, 2, ... `max_rounds` = 12) one player proposes how to split M and the
other accepts or rejects; the player who rejected proposes in the next round (player 1 proposes
first). Money agreed in round r is worth δ^(r−1) of itself (δ = 0.95 for both players); with no
agreement after the last round both get nothing. Rewards are each player's discounted share of M,
in [0, 1].

**Messages** are read strictly: the proposer's must hold exactly one `[Offer: N]` (N the whole coins
it keeps, 0..M, the other gets M − N), the responder's exactly one `[Accept]` or `[Reject]`; text
around it is allowed and not shown to the other player. Anything else (no action, several, the
wrong one for the turn, a number outside 0..M or not a whole number) is illegal under the one rule of
sparring/envs/games.py (told why, asked again once, then a forfeit: −1 to the offender, +1 to the other).

**Measures** (GLEE's, per episode in the info and per round by the games task): agreement, fairness
1 − 4(p − 0.5)² with p player 1's share of M in the agreed split, efficiency (the discounted shares'
sum over M: δ^(r−1) on agreement in round r, 0 without), and the judged policy's discounted share.
"""

from __future__ import annotations

import random
import re
from typing import Any, Sequence

from sparring.envs.games import Game
from sparring.stats import mean

TOTAL = 10_000
DISCOUNT = 0.95
_ACTION = re.compile(r"\[\s*(offer|accept|reject)\b([^\[\]]*)\]", re.IGNORECASE)


def fairness(share: float) -> float:
    """GLEE's fairness of a split in which one side gets `share` of the whole: 1 at an even split."""
    return 1 - 4 * (share - 0.5) ** 2


def measures(episodes: Sequence, policy_id: str) -> dict[str, float | None]:
    """Agreement rate, mean fairness and efficiency (GLEE) and the mean discounted share of
    `policy_id`'s seats, over the games that ended by the rules without a forfeit."""
    played = [e for e in episodes if e.has_outcome and "efficiency" in e.info and min(e.rewards) >= 0]  # no forfeit
    agreed = [e for e in played if e.info["agreed_round"] is not None]

    return {"agreement": mean([e.info["agreed_round"] is not None for e in played]),
            "fairness": mean([fairness(e.info["split"][0] / TOTAL) for e in agreed]),
            "efficiency": mean([e.info["efficiency"] for e in played]),
            "share": mean([e.rewards[s] for e in played for s in e.seats_of(policy_id)])}


class Bargaining(Game):
    reward_range = (-1.0, 1.0)
    rules = (f"Let's bargain. Two players split {TOTAL:,} coins. Each round one player proposes a split and the other "
             f"accepts or rejects it; whoever rejects proposes next. Coins agreed in a later round are worth less: "
             f"each round multiplies them by {DISCOUNT}.")
    ask = "What do you say?"
    measures = staticmethod(measures)  # the games task reports them per round and at evaluation
    max_rounds = 12

    def start(self, rng: random.Random) -> None:
        self.history: tuple[tuple[int, int, bool | None], ...] = ()  # (proposer, coins it keeps, accepted)
        self.agreed: tuple[int, int] | None = None  # coins per seat

    @property
    def round(self) -> int:
        """The round being played (or, once agreed, the round of the agreement)."""
        settled = self.history and (self.history[-1][2] is None or self.agreed is not None)
        return len(self.history) if settled else len(self.history) + 1

    def _proposing(self) -> bool:
        return not self.history or self.history[-1][2] is not None

    def to_act(self) -> int:
        if not self.history:
            return 0
        proposer, _, accepted = self.history[-1]
        return 1 - proposer  # the responder; after a rejection the same seat proposes next

    def read(self, text: str) -> tuple[str | None, str]:
        found = _ACTION.findall(text)
        if len(found) != 1:
            return None, "the message holds no action" if not found else "the message holds several actions; make one"
        kind, body = found[0][0].lower(), found[0][1].strip()
        if self._proposing():
            if kind != "offer":
                return None, "you propose this round: [Offer: N], N the coins you keep"
            number = body.lstrip(":").strip().replace(",", "")
            if not re.fullmatch(r"\d+", number) or int(number) > TOTAL:
                return None, f"an offer is [Offer: N], N a whole number of coins from 0 to {TOTAL}"
            return f"[Offer: {int(number)}]", ""
        if kind == "offer":
            return None, "answer the offer first: [Accept] or [Reject]"
        if body:
            return None, f"[{kind.capitalize()}] takes nothing inside its brackets"
        return f"[{kind.capitalize()}]", ""

    def legal_moves(self) -> list[str]:
        """Accept or reject, or an offer keeping 0, 1,000, ..., 10,000 coins (any whole number is legal)."""
        if not self._proposing():
            return ["[Accept]", "[Reject]"]
        return [f"[Offer: {k * TOTAL // 10}]" for k in range(11)]

    def options(self) -> str:
        if self._proposing():
            return "Propose a split: [Offer: N], where N is the coins you keep; the other player gets the rest."
        return "Answer with [Accept] or [Reject]."

    def apply(self, move: str) -> None:
        seat = self.to_act()
        if move.startswith("[Offer"):
            self.history += ((seat, int(move[8:-1]), None),)
            return
        proposer, kept, _ = self.history[-1]
        accepted = move == "[Accept]"
        self.history = self.history[:-1] + ((proposer, kept, accepted),)
        if accepted:
            self.agreed = tuple(kept if s == proposer else TOTAL - kept for s in range(2))

    def view(self, seat: int) -> str:
        lines = [f"You are player {seat + 1}. This is round {self.round} of {self.max_rounds}: coins agreed now are "
                 f"worth {DISCOUNT ** (self.round - 1):.2f} of their face value."]
        for r, (proposer, kept, accepted) in enumerate(self.history, 1):
            said = "" if accepted is None else " It was accepted." if accepted else " It was rejected."
            lines.append(f"Round {r}: player {proposer + 1} proposed to keep {kept:,} and give {TOTAL - kept:,}.{said}")
        return "\n".join(lines)

    def state(self, seat: int) -> tuple:
        return (seat, self.history)

    def outcome(self) -> tuple[float, ...] | None:
        if self.agreed is not None:
            worth = DISCOUNT ** (self.round - 1)
            return tuple(worth * coins / TOTAL for coins in self.agreed)
        if len(self.history) == self.max_rounds and self.history[-1][2] is False:
            return (0.0, 0.0)
        return None

    def _info(self) -> dict[str, Any]:
        agreed_round = self.round if self.agreed is not None else None
        return {**super()._info(), "agreed_round": agreed_round, "split": list(self.agreed) if self.agreed else None,
                "efficiency": DISCOUNT ** (agreed_round - 1) if agreed_round else 0.0}
