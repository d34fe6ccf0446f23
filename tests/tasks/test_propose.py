import pytest

from sparring.tasks.propose import ProposerReward, guessable, learnability, others_in_cluster, proposer_reward


def test_learnability_peaks_at_the_edge_and_is_zero_at_the_ends():
    assert learnability(0.5) == 1.0
    assert learnability(0.3) == pytest.approx(0.6) and learnability(0.8) == pytest.approx(0.4)
    assert learnability(0.0) == learnability(1.0) == 0.0
    assert learnability(0.25, "azr") == 0.75 and learnability(1.0, "azr") == learnability(0.0, "azr") == 0.0
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        learnability(1.5)


def test_guessable_answers():
    assert guessable(0, {3, 4}) and guessable(1, set()) and guessable(4, {3, 4})
    assert not guessable(7, {3, 4})


def test_others_in_cluster_counts_the_rest_of_the_batch():
    assert others_in_cluster(["1 + 1", "2 * 1", "1 + 1", "1 + 1"]) == [2, 0, 2, 2]


def test_proposer_reward_by_hand():
    s = ProposerReward()
    assert proposer_reward(s, valid=False, p_hat=0.5) == -1.0
    assert proposer_reward(s, valid=True, p_hat=0.5, batch=4) == 1.0
    # 0.75 -> learnability 0.5; guessable halves it; 2 others of 4 take 0.5; not novel takes 0.5
    assert proposer_reward(s, valid=True, p_hat=0.75, is_guessable=True, others=2, batch=4, novel=False) \
        == pytest.approx(0.25 - 0.5 - 0.5)
    azr = ProposerReward(learnability="azr", cluster_weight=0.0)
    assert proposer_reward(azr, valid=True, p_hat=0.25, others=3, batch=4) == 0.75
    # known to the greedy solver: the learnability loses known_discount of itself (none by default)
    assert proposer_reward(s, valid=True, p_hat=0.5, known=True) == 1.0
    known = ProposerReward(known_discount=0.75)
    assert proposer_reward(known, valid=True, p_hat=0.75, known=True, is_guessable=True) == pytest.approx(0.5 * 0.5 * 0.25)
    assert proposer_reward(known, valid=True, p_hat=0.75, known=False) == 0.5


def test_unknown_setting_names_the_valid_ones():
    with pytest.raises(Exception, match="archive_penalty"):
        ProposerReward(archive_penalty=-1)
    with pytest.raises(Exception, match="extra"):
        ProposerReward(learnabilty="azr")



def test_score_proposals_puts_the_parts_together_for_a_batch():
    from sparring.tasks.propose import Proposal, score_proposals

    batch = [Proposal(valid=True, canonical="7 * 12", shape="1 * 11", answer=84, literals=(7, 12), solved=2, k=4),
             Proposal(valid=False),
             Proposal(valid=True, canonical="12 * 9", shape="1 * 11", answer=108, literals=(9, 12), solved=1, k=4),
             Proposal(valid=True, canonical="3 + 4", shape="1 + 1", answer=7, literals=(3, 4), solved=3, k=4,
                      copied=True),
             Proposal(valid=True, canonical="5 - 4", shape="1 - 1", answer=1, literals=(4, 5), solved=2, k=4),
             Proposal(valid=True, canonical="6 + 6", shape="1 + 1", answer=12, literals=(6,), solved=0, k=0)]
    rewards = score_proposals(batch, {"12 * 9"}, ProposerReward())
    # 5 admitted; clusters by shape: "1 * 11" x2, "1 + 1" x2, "1 - 1" x1
    assert rewards == pytest.approx([1.0 - 1 / 5, -1.0, 0.5 - 1 / 5 - 0.5, 0.5 - 1 / 5 - 0.5, 0.5, 0.0 - 1 / 5])
    # the greedy solver knew the first one: with the discount on, its learnability is gone
    batch[0] = Proposal(**{**batch[0].__dict__, "greedy_right": True})
    batch[4] = Proposal(**{**batch[4].__dict__, "greedy_right": False})
    rewards = score_proposals(batch, {"12 * 9"}, ProposerReward(known_discount=1.0))
    assert rewards[0] == pytest.approx(0.0 - 1 / 5) and rewards[4] == 0.5
