"""Tree search: PUCT, backup, the visit target and determinization by hand; searches that find the win
and the block; many trees in one batched priors call; rules-only search beats random play."""

import math
import random

import pytest

from sparring.engine import EpisodeSpec, run_episodes
from sparring.envs import make_env
from sparring.errors import SparringError
from sparring.policies import POLICIES
from sparring.search.mcts import (Node, SearchConfig, backup, puct_scores, scaled, search, select, uniform_priors,
                                  visit_target, with_noise)
from sparring.search.player import SearchPlayer, searched_player
from sparring.types import Message, TurnRequest


def test_puct_score_by_hand():
    # N(s) = 4: move 0 has Q 0.5, N 3, P 0.2; move 1 has Q 0, N 1, P 0.8; c = 2: scale = 2·√4 = 4
    assert puct_scores([0.5, 0.0], [3, 1], [0.2, 0.8], c=2) == pytest.approx([0.5 + 4 * 0.2 / 4, 4 * 0.8 / 2])
    assert select([0.5, 0.0], [3, 1], [0.2, 0.8], c=2) == 1
    assert select([0.5, 0.0], [3, 1], [0.2, 0.8], c=0) == 0  # no exploration: the best value
    # at a fresh node (no visits) the priors order the first visit: √max(0, 1) = 1
    assert select([0.0, 0.0, 0.0], [0, 0, 0], [0.1, 0.6, 0.3], c=1) == 1
    assert select([0.0, 0.0], [0, 0], [0.5, 0.5], c=1) == 0  # ties: the first


def test_backup_credits_each_edge_with_its_movers_value():
    root, reply = Node(seat=0, visits=[0, 0], value_sums=[0.0, 0.0]), Node(seat=1, visits=[0], value_sums=[0.0])
    backup([(root, 1), (reply, 0)], value=(1.0, -1.0))  # seat 0 won
    assert (root.visits, root.value_sums, reply.visits, reply.value_sums) == ([0, 1], [0.0, 1.0], [1], [-1.0])
    backup([(root, 1)], value=(-0.5, 0.5))
    assert root.q() == [0.0, pytest.approx(0.25)]  # (1 - 0.5) / 2, from seat 0's view


def test_visit_target_by_hand():
    assert visit_target([1, 3], 1.0) == pytest.approx([0.25, 0.75])
    assert visit_target([1, 3], 0.5) == pytest.approx([0.1, 0.9])  # squared: 1, 9
    assert visit_target([2, 5, 5], 0) == [0.0, 0.5, 0.5]  # τ = 0: the most visited share the mass


def test_root_noise_keeps_a_distribution_and_its_weight():
    mixed = with_noise([0.5, 0.5, 0.0], alpha=0.3, fraction=0.25, rng=random.Random(0))
    assert sum(mixed) == pytest.approx(1.0) and min(mixed) >= 0 and mixed[2] <= 0.25
    assert with_noise([0.2, 0.8], alpha=0.3, fraction=0.0, rng=random.Random(0)) == [0.2, 0.8]


def test_rewards_scale_onto_minus_one_to_one():
    assert scaled((2.0, -2.0), (-2.0, 2.0)) == (1.0, -1.0)
    assert scaled((1.0, -1.0), (-2.0, 2.0)) == (0.5, -0.5)


def _board(*moves):
    """tic-tac-toe after `moves` (cells 1-9, X first); the request of the seat to act."""
    env = make_env("tictactoe-v1")
    request = env.reset(0)
    for move in moves:
        request = env.step(move).next_request
    return request


RULES = SearchConfig(simulations=200, dirichlet_fraction=0.0)


def test_search_takes_the_win_in_one():
    # X: 1, 2; O: 4, 5. X to move wins at 3 (O threatens 6)
    [found] = search([_board("1", "4", "2", "5")], RULES, uniform_priors, seeds=[0])
    assert found.seat == 0 and found.best() == "3"
    assert found.q[found.moves.index("3")] == pytest.approx(1.0)  # every visit of the win wins


def test_search_blocks_the_loss_in_one():
    # X: 1, 2; O: 5. O to move must block at 3
    [found] = search([_board("1", "5", "2")], RULES, uniform_priors, seeds=[0])
    assert found.seat == 1 and found.best() == "3"


def test_many_trees_share_one_priors_call_per_simulation():
    calls = []

    def counting(requests):
        calls.append(len(requests))
        return uniform_priors(requests)

    roots = [_board(), _board("5"), _board("1", "5", "2")]
    simulated = []  # the progress bar's advance: once per simulation of all trees
    results = search(roots, SearchConfig(simulations=10, rollout="none"), counting, seeds=[1, 2, 3],
                     on_simulation=lambda: simulated.append(len(calls)))
    assert len(calls) <= 10 and calls[0] == 3  # each simulation: one call for every tree's new leaf
    assert len(simulated) == 10 and simulated[0] == 1  # called after the first simulation's priors call
    assert [sum(r.visits) for r in results] == [9, 9, 9]  # the first simulation expands the root
    alone = search([roots[2]], SearchConfig(simulations=10, rollout="none"), uniform_priors, seeds=[3])
    assert alone[0] == results[2]  # a tree's result does not depend on the others searched with it


def test_policy_rollouts_draw_moves_from_the_priors():
    def fond_of_the_first_cell(requests):
        return [[1.0 if m == r.legal_actions[0] else 0.0 for m in r.legal_actions] for r in requests]

    # rollouts that always take the lowest free cell: from X 1, O 5, X takes 9 -> O plays 2 (lowest), ...
    found = search([_board("1", "5")], SearchConfig(simulations=30, rollout="policy"), fond_of_the_first_cell, [0])
    assert sum(found[0].visits) == 29


def test_determinize_keeps_the_seats_own_card_and_draws_the_other():
    env = make_env("kuhn-poker-v1")
    request = env.reset(3)
    mine = env.cards[request.seat]
    dealt = {env.determinize(request.seat, random.Random(s)).cards for s in range(40)}
    assert all(cards[request.seat] == mine and cards[1 - request.seat] != mine for cards in dealt)
    assert len(dealt) == 2  # both cards the other seat may hold
    assert env.cards[request.seat] == mine  # the game itself is untouched


def test_search_in_kuhn_poker_never_reads_the_hidden_card():
    # Seat 1 holds the Q facing a bet: whatever the other card, the search sees K and J alike, so its
    # statistics are the same for the two deals that give seat 1 the Q.
    def facing_a_bet(seed):
        env = make_env("kuhn-poker-v1")
        env.reset(seed)
        env.cards = (("K", "Q"), ("J", "Q"))[seed % 2]
        return env.step("bet").next_request

    cfg = SearchConfig(simulations=60, dirichlet_fraction=0.0)
    with_k, with_j = (search([facing_a_bet(s)], cfg, uniform_priors, seeds=[7])[0] for s in (0, 1))
    assert with_k == with_j
    assert with_k.moves == ("call", "fold") and sum(with_k.visits) == 59


def test_the_other_seat_plays_the_card_it_holds_in_each_simulation():
    # Seat 0 holds the Q. A bet: a J folds (+1 chip), a K calls (-2): -0.5, i.e. -0.25 on [-1, 1] (the
    # tree's average sits above it: the other seat's nodes explore). A check: the J checks (+1), the K
    # bets and the Q folds (-1): 0. With the other seat's nodes merged over its cards it called the bet
    # with either (the call's average being 0 > the fold's -1), and the search bet with the Q (worth 0).
    env = make_env("kuhn-poker-v1")
    request = env.reset(0)
    env.cards = ("Q", "K")
    found = search([request], SearchConfig(simulations=1000, dirichlet_fraction=0.0), uniform_priors, [3])[0]
    q = dict(zip(found.moves, found.q))
    assert found.best() == "check"
    assert -0.3 < q["bet"] < -0.05 and q["check"] == pytest.approx(0.0, abs=0.05)


def test_search_refuses_an_env_it_cannot_copy():
    with pytest.raises(SparringError, match="clone"):
        search([TurnRequest(0, (Message("user", "x"),), ("1",))], RULES, uniform_priors, seeds=[0])


def test_zero_simulations_or_a_negative_c_are_refused_by_key():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="simulations"):
        SearchConfig(simulations=0)
    with pytest.raises(ValidationError, match="c_puct"):
        SearchConfig(c_puct=-1.0)


def test_mcts_names_a_searched_player():
    assert searched_player("mcts(round-2)") == "round-2" and searched_player("mcts") is None
    assert isinstance(POLICIES.make("mcts"), SearchPlayer)


def test_rules_only_search_beats_random_play_at_tic_tac_toe():
    games = 40
    specs = [EpisodeSpec(id=f"g{i}", env_id="tictactoe-v1", seed=i,
                         policies=("mcts", "random-legal") if i % 2 else ("random-legal", "mcts"), tags={})
             for i in range(games)]
    players = {"mcts": SearchPlayer(SearchConfig(simulations=100)), "random-legal": POLICIES.make("random-legal")}
    episodes = run_episodes(specs, players, {"round": 0}, seed=0)
    rewards = [e.rewards[e.seats_of("mcts")[0]] for e in episodes]
    assert sum(r > 0 for r in rewards) >= 0.75 * games and sum(r < 0 for r in rewards) <= 2
    assert math.isclose(len(rewards), games)
