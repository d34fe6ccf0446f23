import pytest

from sparring.models.tiny import build_tiny_model


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    """A 2-layer randomly initialised model with SmolLM2's architecture and tokenizer."""
    return str(build_tiny_model(tmp_path_factory.mktemp("tiny") / "model"))


@pytest.fixture(scope="session")
def tiny_backend(tiny_model):
    from sparring.models.transformers_backend import TransformersBackend

    return TransformersBackend(tiny_model, dtype="float32", batch_size=16)


@pytest.fixture
def game_episode():
    """A played tic-tac-toe episode between the trained policy (seat 0) and `players[1]`, naming its
    players; seat 0 has 3 replies (one illegal), seat 1 one."""
    from sparring.types import Completion, Episode, Message, Turn

    def make(id, players, rewards, stage="eval", turns=((0, True), (1, True), (0, False), (0, True))):
        return Episode(id=id, env_id="tictactoe-v1", env_version=0, seed=0, policies=("policy", players[1]),
                       turns=[Turn(seat, (Message("user", "board"),), Completion("5", (1,), "stop"), legal)
                              for seat, legal in turns],
                       rewards=rewards, terminated=bool(rewards), info={"illegal_by_seat": [1, 0]},
                       tags={"stage": stage, "players": list(players)}, provenance={"round": 2})

    return make
