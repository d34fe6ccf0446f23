"""negotiation-v1: SPIRAL's Simple Negotiation: two players trade Wood and Gold, valued oppositely.

**The game.** Each player holds some Wood and Gold (5–15 of each, public) and values one resource
highly (12–18 a unit) and the other little (3–7), the other player the other way round (each sees
only its own values). For `max_turns` messages (10: five each, player 1 first) they talk and trade.
After the last message, the player whose holdings gained more value (by its own values) since the
start wins: +1, −1 to the other; equal gains draw (0 each).

**A message** may hold one action, anywhere in its text: `[Offer: 3 Wood -> 2 Gold]` (what the
speaker gives -> what it asks for; several items joined by "," or "and"), `[Accept]` or `[Deny]`
(the offer made to the speaker); a message without one is talk, shown to the other player as it
is. An offer stands until it is accepted, denied or replaced by a new offer from either player. A
trade moves the resources at once.

**Illegal messages** (the one rule of sparring/envs/games.py: told why, asked again once, then a
forfeit: −1, +1 to the other): several actions in one message; an offer that does not read as
`<n> <resource>, ... -> <n> <resource>, ...` with positive whole numbers of Wood or Gold, that gives
or asks for nothing, names a resource on both sides, or gives more than the speaker holds;
`[Accept]` or `[Deny]` with no offer made to the speaker, or with text inside the brackets; an
acceptance the speaker cannot pay for.
"""

from __future__ import annotations

import random
import re
from typing import Any

from sparring.envs.games import Game

RESOURCES = ("Wood", "Gold")
Amounts = tuple[int, int]  # Wood, Gold
_ACTION = re.compile(r"\[\s*(offer|accept|deny)\b([^\[\]]*)\]", re.IGNORECASE)
_ITEM = re.compile(r"(\d+)\s+(wood|gold)", re.IGNORECASE)


def read_amounts(text: str) -> tuple[Amounts | None, str]:
    """'3 Wood and 1 Gold' -> (3, 1), or (None, why not)."""
    items = [item.strip() for item in re.split(r",|\band\b", text, flags=re.IGNORECASE)]
    amounts = [0, 0]
    for item in items:
        match = _ITEM.fullmatch(item)
        if match is None:
            return None, f"{item!r} is not '<number> Wood' or '<number> Gold'"
        resource, count = RESOURCES.index(match.group(2).capitalize()), int(match.group(1))
        if count == 0 or amounts[resource]:
            return None, f"{item!r}: each resource once, a positive number of it"
        amounts[resource] = count
    return (amounts[0], amounts[1]), ""


def read_action(text: str) -> tuple[tuple | None, str]:
    """The action of a message: ("talk",), ("accept",), ("deny",) or ("offer", gives, asks), or
    (None, why it is malformed). Legality in the game (holdings, a standing offer) is checked apart."""
    found = _ACTION.findall(text)
    if not found:
        return ("talk",), ""
    if len(found) > 1:
        return None, "the message holds several actions; make at most one"
    kind, body = found[0][0].lower(), found[0][1].strip()
    if kind != "offer":
        return ((kind,), "") if not body else (None, f"[{kind.capitalize()}] takes nothing inside its brackets")
    sides = body.lstrip(":").split("->")
    if len(sides) != 2:
        return None, "an offer reads [Offer: <what you give> -> <what you ask for>]"
    (gives, why_give), (asks, why_ask) = read_amounts(sides[0]), read_amounts(sides[1])
    if gives is None or asks is None:
        return None, f"the offer does not read: {why_give or why_ask}"
    if any(g and a for g, a in zip(gives, asks)):
        return None, "the offer names one resource on both sides"
    return ("offer", gives, asks), ""


def offer_text(gives: Amounts, asks: Amounts) -> str:
    def side(amounts: Amounts) -> str:
        return ", ".join(f"{n} {name}" for n, name in zip(amounts, RESOURCES) if n)
    return f"[Offer: {side(gives)} -> {side(asks)}]"


class Negotiation(Game):
    reward_range = (-1.0, 1.0)
    rules = ("Let's negotiate. Two players hold Wood and Gold and value them differently. Trade so that your "
             "resources gain more value than the other player's do.")
    ask = "What do you say?"
    max_turns = 10

    def start(self, rng: random.Random) -> None:
        low, high = rng.randint(3, 7), rng.randint(12, 18)
        gold_first = rng.random() < 0.5  # which player values Gold
        mine = (low, high) if gold_first else (high, low)
        self.values: tuple[Amounts, Amounts] = (mine, mine[::-1])
        self.holdings: tuple[Amounts, Amounts] = tuple((rng.randint(5, 15), rng.randint(5, 15)) for _ in range(2))
        self.start_holdings = self.holdings
        self.offer: tuple[int, Amounts, Amounts] | None = None  # (the seat that made it, gives, asks)
        self.trades = 0

    def worth(self, seat: int, holdings: Amounts) -> int:
        return sum(n * v for n, v in zip(holdings, self.values[seat]))

    def gain(self, seat: int) -> int:
        return self.worth(seat, self.holdings[seat]) - self.worth(seat, self.start_holdings[seat])

    def to_act(self) -> int:
        return len(self.moves) % 2  # every message is a move: the seats alternate

    def _offered_to(self, seat: int) -> bool:
        return self.offer is not None and self.offer[0] != seat

    def _can_pay(self, seat: int, amounts: Amounts) -> bool:
        return all(have >= n for have, n in zip(self.holdings[seat], amounts))

    def read(self, text: str) -> tuple[str | None, str]:
        """The message itself is the move, once its action is legal now."""
        action, why = read_action(text)
        seat = self.to_act()
        if action is None:
            return None, why
        if action[0] in ("accept", "deny") and not self._offered_to(seat):
            return None, f"there is no offer to {action[0]}"
        if action[0] == "accept" and not self._can_pay(seat, self.offer[2]):
            return None, "you do not hold what the offer asks for"
        if action[0] == "offer" and not self._can_pay(seat, action[1]):
            return None, "you offer more than you hold"
        return text.strip() or "(nothing)", ""

    def legal_moves(self) -> list[str]:
        """The plain actions: accepting or denying a standing offer, and offers of 1–3 units of one
        resource for 1–3 of the other (any other well-formed affordable offer, or talk, is legal too)."""
        seat = self.to_act()
        moves = []
        if self._offered_to(seat):
            moves += ["[Accept]"] * self._can_pay(seat, self.offer[2]) + ["[Deny]"]
        for give in range(2):
            for n in range(1, 4):
                for m in range(1, 4):
                    gives, asks = [0, 0], [0, 0]
                    gives[give], asks[1 - give] = n, m
                    if self._can_pay(seat, tuple(gives)):
                        moves.append(offer_text(tuple(gives), tuple(asks)))
        return moves

    def options(self) -> str:
        return ("You may make one offer, like [Offer: 3 Wood -> 2 Gold] (what you give -> what you ask for), "
                "[Accept] or [Deny] an offer made to you, or just talk.")

    def apply(self, move: str) -> None:
        seat = self.to_act()
        action, _ = read_action(move)
        if action[0] == "offer":
            self.offer = (seat, action[1], action[2])
        elif action[0] == "deny":
            self.offer = None
        elif action[0] == "accept":
            proposer, gives, asks = self.offer
            received = {proposer: (asks, gives), seat: (gives, asks)}  # (comes in, goes out)
            self.holdings = tuple(tuple(h + i - o for h, i, o in zip(self.holdings[s], *received[s]))
                                  for s in range(2))
            self.offer, self.trades = None, self.trades + 1

    def view(self, seat: int) -> str:
        other = 1 - seat
        wood, gold = self.values[seat]
        lines = [f"You are player {seat + 1}. A Wood is worth {wood} to you and a Gold {gold}; player {other + 1} "
                 "values them otherwise. You hold " + self._held(seat) + f" (worth {self.worth(seat, self.holdings[seat])}"
                 f" to you, {self.gain(seat):+d} since the start); player {other + 1} holds {self._held(other)}. "
                 f"This is message {len(self.moves) + 1} of {self.max_turns}."]
        if self.moves:
            lines.append("So far:\n" + "\n".join(f"Player {i % 2 + 1}: {text}" for i, text in enumerate(self.moves)))
        if self.offer is not None:
            who = "You" if self.offer[0] == seat else f"Player {self.offer[0] + 1}"
            lines.append(f"Standing offer: {who} offered {offer_text(self.offer[1], self.offer[2])}.")
        return "\n".join(lines)

    def _held(self, seat: int) -> str:
        return " and ".join(f"{n} {name}" for n, name in zip(self.holdings[seat], RESOURCES))

    def state(self, seat: int) -> tuple:
        return (seat, self.values[seat], self.holdings, self.offer)

    def outcome(self) -> tuple[float, ...] | None:
        if len(self.moves) < self.max_turns:
            return None
        gains = (self.gain(0), self.gain(1))
        return (0.0, 0.0) if gains[0] == gains[1] else (1.0, -1.0) if gains[0] > gains[1] else (-1.0, 1.0)

    def _info(self) -> dict[str, Any]:
        return {**super()._info(), "values": [list(v) for v in self.values], "start": [list(h) for h in self.start_holdings],
                "holdings": [list(h) for h in self.holdings], "gains": [self.gain(0), self.gain(1)],
                "trades": self.trades}
