"""textarena/<game>: TextArena's two-player games as envs, through the seat protocol.

Each id `textarena/<game>` is one of TextArena's registered games (`sparring envs` lists them where
the package is installed: `pip install -e '.[textarena]'`, which `make` does), made with TextArena's
training wrappers (its `-train` variant: the current board or the messages so far, not the whole
transcript). A game that does not seat two players fails its episodes with TextArena's reason.

**Seats.** TextArena's player 0 and 1 are seats 0 and 1; each turn the seat TextArena says is to act
gets TextArena's observation for it as one user message, and its reply goes to TextArena's `step`
as it is. Where the observation ends by listing the moves ("Available Moves: '[0]', '[1]'", "Your
available actions are: '[check]', '[bet]'"), those are the request's legal actions, so scripted
players such as random-legal can sit in the other seat. TextArena's rewards at the end (+1/−1, 0 for a draw; clipped to [−1, 1]) are the seats'.

**Invalid moves.** TextArena's own rule for two-player games is the project's: a seat whose move is
invalid is told why and asked again once (its `error_allowance` of 1); a second invalid move in a
row loses the game (−1, +1 to the other). Each invalid move is recorded as an illegal turn with
TextArena's reason (the adapter notes every reason TextArena's state gives).

**Randomness.** TextArena draws from the global `random` module, so two episodes played side by side
would draw from one stream. Each episode keeps its own state of that module, started from the
episode's seed, and swaps it in around every call into TextArena (and back out after): an episode
plays the same whatever else runs beside it (tests/envs/test_textarena.py).

**Failures.** An exception inside TextArena's code ends that episode as a failed episode (the engine's
rule), never the run. TextArena's word games (WordChains, SpellingBee, DontSayIt, ...) download NLTK's
corpora from GitHub when imported, which fails without that network: they fail as episodes here.

Why our own adapter: TextArena plays one match between agents; this is the thin layer that makes its
games seeded, interleavable envs with per-seat requests.
"""

from __future__ import annotations

import functools
import random
import re
from typing import Any, Callable

from sparring.errors import ForeignGameError, SparringError
from sparring.types import Message, StepResult, TurnRequest

INSTALL = "pip install -e '.[textarena]'"
VARIANTS = ("-train", "-raw")  # TextArena's wrapper variants of each game: not games of their own
_LISTED = re.compile(r"available (?:moves|actions)[^:\n]*:([^\n]*)\s*$", re.IGNORECASE)
_MOVE = re.compile(r"'(\[[^\]']*\])'")


def listed_moves(observation: str) -> tuple[str, ...]:
    """The moves an observation's last line lists ("Available Moves: '[0]', '[1]'"), else ()."""
    match = _LISTED.search(observation)
    return tuple(_MOVE.findall(match.group(1))) if match else ()


def _registry() -> dict:
    try:
        from textarena.envs.registration import ENV_REGISTRY
    except ImportError:
        raise SparringError(f"textarena envs need the textarena package: {INSTALL}") from None
    return ENV_REGISTRY


def members() -> list[str]:
    """TextArena's registered games, less its wrapper variants of each."""
    return sorted(game for game in _registry() if not game.endswith(VARIANTS))


@functools.cache
def package_version() -> str:
    from importlib.metadata import version

    return version("textarena")


@functools.cache
def load(game: str) -> type:
    """The env class of one game (made without playing it: `sparring envs` loads all 238, and some
    download data when first played)."""
    return type(f"TextArena[{game}]", (TextArenaEnv,), {"game": game})


class TextArenaEnv:
    num_seats = 2
    reward_range = (-1.0, 1.0)
    version = 0  # of this adapter; the info of each episode records TextArena's version
    game = ""  # set per game by load()

    def _own_random(self, call: Callable[[], Any]) -> Any:
        """`call` with the global random module in this episode's state (see the module's docstring)."""
        outer = random.getstate()
        random.setstate(self._random_state)
        try:
            return call()
        finally:
            self._random_state = random.getstate()
            random.setstate(outer)

    def reset(self, seed: int) -> TurnRequest:
        import textarena as ta

        made = self.game + "-train" if self.game + "-train" in _registry() else self.game
        self._random_state = random.Random(seed).getstate()
        self._env = self._own_random(lambda: ta.make(made))
        try:
            self._own_random(lambda: self._env.reset(num_players=2, seed=seed))
        except AssertionError as e:  # TextArena's refusal of a game for one or for more players
            raise SparringError(f"textarena/{self.game} cannot be played by two seats: {e}") from None
        self._invalid: list[str] = []
        state = self._env.state
        refuse = state.set_invalid_move

        def noted(reason, *args, **kwargs):  # keep TextArena's reason for the turn's record
            self._invalid.append(str(reason))
            return refuse(reason, *args, **kwargs)

        state.set_invalid_move = noted
        self._done = False
        return self._request()

    def _request(self) -> TurnRequest:
        seat, observation = self._env.get_observation()
        return TurnRequest(seat, (Message("user", str(observation)),), listed_moves(str(observation)))

    def step(self, action_text: str) -> StepResult:
        if self._done:
            raise RuntimeError("step() called on a finished episode; call reset() first")
        before = len(self._invalid)
        try:
            done, _ = self._own_random(lambda: self._env.step(action=action_text))
        except Exception as e:  # TextArena's own code: its state is unknown now, so the episode ends as a failure
            raise ForeignGameError(f"TextArena's {self.game} raised on a {len(action_text)}-character reply "
                                   f"starting {action_text[:40]!r}: {type(e).__name__}: {str(e)[:200]}") from e
        why = "; ".join(self._invalid[before:])
        info = {"textarena": package_version(), "game": self.game, "invalid": len(self._invalid)}
        if not done:
            return StepResult(self._request(), (0.0, 0.0), legal=not why, reason=why, info=info)
        self._done = True
        rewards, game_info = self._env.close()
        reasons = {str(v.get("reason")) for v in game_info.values() if isinstance(v, dict) and v.get("reason")}
        clipped = tuple(max(-1.0, min(1.0, float(rewards.get(seat, 0.0)))) for seat in range(2))
        return StepResult(None, clipped, terminated=True, legal=not why, reason=why or "; ".join(sorted(reasons)),
                          info=info)
