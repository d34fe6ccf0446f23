"""The run directory: config, episode store, per-round datasets, checkpoints and metrics."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from sparring import __version__
from sparring.config import RunConfig, build_config, read_toml, save_config
from sparring.errors import SparringError


def code_version() -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{__version__}+{commit}" if commit else __version__


class RunDir:
    def __init__(self, root: Path):
        self.root = Path(root)

    @property
    def run_id(self) -> str:
        return self.root.name

    @property
    def config_path(self) -> Path:
        return self.root / "config.toml"

    @property
    def episodes_path(self) -> Path:
        return self.root / "episodes.sqlite"

    @property
    def heldout_path(self) -> Path:
        return self.root / "heldout.jsonl"

    def round_dir(self, r: int) -> Path:
        return self.root / "rounds" / str(r)

    def dataset_path(self, r: int) -> Path:
        return self.round_dir(r) / "dataset.parquet"

    def checkpoint_path(self, r: int) -> Path:
        return self.round_dir(r) / "checkpoint"

    def metrics_path(self, r: int) -> Path:
        return self.round_dir(r) / "metrics.json"

    @classmethod
    def create(cls, root: Path, cfg: RunConfig) -> RunDir:
        if (root / "config.toml").exists():
            raise SparringError(f"{root} already holds a run; continue it with --resume or choose another --out")
        root.mkdir(parents=True, exist_ok=True)
        run = cls(root)
        save_config(cfg, run.config_path, code_version())
        return run

    @classmethod
    def open(cls, root: Path) -> RunDir:
        if not (root / "config.toml").exists():
            raise SparringError(f"no run to resume at {root} (no config.toml there)")
        return cls(root)

    def config(self) -> RunConfig:
        return build_config(read_toml(self.config_path))

    def is_complete(self, r: int) -> bool:
        """A round is complete only once its metrics.json is written."""
        return self.metrics_path(r).exists()

    def write_metrics(self, r: int, metrics: dict[str, Any]) -> None:
        path = self.metrics_path(r)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(metrics, indent=2))
        tmp.rename(path)

    def metrics(self, r: int) -> dict[str, Any]:
        return json.loads(self.metrics_path(r).read_text())
