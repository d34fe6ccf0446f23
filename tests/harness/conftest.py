import pytest

from sparring import loop
from sparring.config import load_config
from sparring.harness.kill import tiny_run_settings
from sparring.rundir import RunDir


@pytest.fixture(scope="session")
def finished_tiny_run(tmp_path_factory, tiny_model):
    """A completed one-round run on the tiny model (tests copy it before damaging it)."""
    from rich.console import Console

    cfg = load_config(None, tiny_run_settings(tiny_model, rounds=1))
    run_dir = RunDir.create(tmp_path_factory.mktemp("finished") / "run", cfg)
    loop.run(cfg, run_dir, Console(quiet=True))
    run_dir.close()
    return run_dir.root
