"""The run directory: config, episode store, per-round datasets, checkpoints, metrics and events.

One process owns a run directory at a time (an exclusive lock on `.lock`, released by the OS even
when the process is killed). The run's id is fixed when it is created (`run.json`), so a run that
is moved or renamed resumes as the same run. Everything is written atomically (a temp file or
directory, then a rename); what an interrupted write leaves behind is removed when the run opens.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from sparring import __version__
from sparring.config import RunConfig, build_config, changed_keys, read_toml, save_config
from sparring.errors import SparringError
from sparring.files import write_atomically
from sparring.store import EpisodeStore

RUNS = Path("runs")
PARTIAL = "*.tmp-*"  # what an interrupted atomic write leaves behind (sparring.files)


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
        self._lock_fd: int | None = None
        self._store: EpisodeStore | None = None

    # --- layout -------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.root / "config.toml"

    @property
    def episodes_path(self) -> Path:
        return self.root / "episodes.sqlite"

    @property
    def heldout_path(self) -> Path:
        return self.root / "heldout.jsonl"

    @property
    def events_path(self) -> Path:
        return self.root / "events.jsonl"

    def round_dir(self, r: int) -> Path:
        return self.root / "rounds" / str(r)

    def dataset_path(self, r: int) -> Path:
        return self.round_dir(r) / "dataset.parquet"

    def checkpoint_path(self, r: int) -> Path:
        return self.round_dir(r) / "checkpoint"

    def metrics_path(self, r: int) -> Path:
        return self.round_dir(r) / "metrics.json"

    # --- creating and opening -----------------------------------------------------------------
    @classmethod
    def create(cls, root: Path | None, cfg: RunConfig, notes: tuple[str, ...] = ()) -> RunDir:
        """A new run at `root`, or at runs/<name>-<time>[-n] (never shared, however many start at once)."""
        run = cls(_new_directory(cfg.name) if root is None else _make_directory(root))
        run._lock()
        if run.config_path.exists():
            run.close()
            raise SparringError(f"{run.root} already holds a run; continue it with --resume or choose another --out")
        write_atomically(run.root / "run.json", json.dumps({
            "run_id": run.root.name, "created": datetime.now().isoformat(timespec="seconds")}))
        run.save_config(cfg, notes)
        run.log_event("created")
        return run

    @classmethod
    def open(cls, root: Path) -> RunDir:
        """An existing run, locked, with what interrupted writes left behind removed."""
        run = cls(root)
        if not run.config_path.exists():
            raise SparringError(f"no run to resume at {root} (no config.toml there)")
        run._lock()
        for partial in sorted(run.root.glob(PARTIAL)) + sorted(run.root.glob(f"rounds/*/{PARTIAL}")):
            shutil.rmtree(partial) if partial.is_dir() else partial.unlink()
        run.log_event("resumed")
        return run

    def _lock(self) -> None:
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise SparringError(f"another sparring process (pid {owner}) is using {self.root}; "
                                "wait for it to finish or stop it") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the lock
            self._lock_fd = None

    # --- contents -----------------------------------------------------------------------------
    def _record(self) -> dict[str, Any]:
        try:
            return json.loads((self.root / "run.json").read_text())
        except (OSError, ValueError) as e:
            raise SparringError(f"{self.root / 'run.json'} is missing or damaged ({e}); it names the run") from None

    @property
    def run_id(self) -> str:
        return self._record()["run_id"]

    @property
    def store(self) -> EpisodeStore:
        if self._store is None:
            self._store = EpisodeStore(self.episodes_path)
        return self._store

    def save_config(self, cfg: RunConfig, notes: tuple[str, ...] = ()) -> None:
        """Write config.toml, and its checksum into run.json so that an edit or damage is noticed."""
        save_config(cfg, self.config_path, code_version(), notes)
        digest = hashlib.sha256(self.config_path.read_bytes()).hexdigest()
        write_atomically(self.root / "run.json", json.dumps({**self._record(), "config_sha256": digest}))

    def config(self) -> RunConfig:
        """The run's saved config; refused when config.toml changed since the run wrote it (a truncated
        file may still parse, with defaults silently filling the missing keys)."""
        digest = hashlib.sha256(self.config_path.read_bytes()).hexdigest()
        if digest != self._record().get("config_sha256"):
            raise SparringError(f"{self.config_path} changed since the run wrote it (damaged or edited by hand); "
                                "restore it, and change settings with --resume --set key=value instead")
        return build_config(read_toml(self.config_path))

    def is_complete(self, r: int) -> bool:
        """A round is complete only once its metrics.json is written."""
        return self.metrics_path(r).exists()

    def write_metrics(self, r: int, metrics: dict[str, Any]) -> None:
        self.metrics_path(r).parent.mkdir(parents=True, exist_ok=True)
        write_atomically(self.metrics_path(r), json.dumps(metrics, indent=2))

    def metrics(self, r: int) -> dict[str, Any]:
        path = self.metrics_path(r)
        try:
            return json.loads(path.read_text())
        except ValueError as e:
            raise SparringError(f"{path} is damaged ({e}); delete it and --resume to rebuild round {r}'s metrics "
                                "from its stored episodes and checkpoint") from None

    def stored_stages(self) -> set[str]:
        """The stages that have stored work in this run: 'rollout' (probe included), 'build' (curate
        included), 'train', 'eval'."""
        stages = {stage for stage, name in (("rollout", "train"), ("rollout", "probe"), ("eval", "eval"))
                  if self.store.has_stage(name)}
        if any(self.root.glob("rounds/*/dataset.parquet")) or any(self.root.glob("rounds/*/curate.json")):
            stages.add("build")
        if any(self.root.glob("rounds/*/checkpoint")):
            stages.add("train")
        return stages

    def check_resume_changes(self, saved: RunConfig, new: RunConfig) -> None:
        """A resume may change a key only while no stored work was made with its old value."""
        stored = self.stored_stages()
        blocked = [(key, shapes) for key, shapes in changed_keys(saved, new)
                   if shapes is not None and (shapes in stored or (shapes == "all" and stored))]
        if blocked:
            what = "; ".join(f"{key} shapes the stored {'work' if shapes == 'all' else shapes}" for key, shapes in blocked)
            raise SparringError(f"--resume cannot change what stored work was made with: {what}. Start a new run "
                                "to change it (keys that shape no stored work yet may change)")

    # --- events -------------------------------------------------------------------------------
    def log_event(self, event: str, **fields: Any) -> None:
        """One line per event in events.jsonl: runs started and resumed, stages begun and ended."""
        line = json.dumps({"t": round(time.time(), 3), "event": event, "pid": os.getpid(), **fields})
        with open(self.events_path, "a") as f:
            f.write(line + "\n")

    @contextmanager
    def stage(self, r: int, name: str, seconds: dict[str, float]) -> Iterator[None]:
        """Time a stage into `seconds[name]` and log its start and end."""
        self.log_event("start", round=r, stage=name)
        started = time.time()
        yield
        seconds[name] = time.time() - started
        self.log_event("end", round=r, stage=name, seconds=round(seconds[name], 3))

    def events(self) -> list[dict[str, Any]]:
        if not self.events_path.exists():
            return []
        lines = self.events_path.read_text().splitlines()
        return [json.loads(line) for line in lines if line.endswith("}")]  # a kill may cut the last line


def _make_directory(root: Path) -> Path:
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SparringError(f"cannot use {root} as a run directory: {e.strerror or e}") from None
    return root


def _new_directory(name: str) -> Path:
    base = RUNS / f"{name}-{datetime.now():%Y%m%d-%H%M%S}"
    for n in range(1, 1000):
        root = base if n == 1 else base.with_name(f"{base.name}-{n}")
        try:
            root.mkdir(parents=True)  # exclusive: two runs started in the same second get two directories
            return root
        except FileExistsError:
            continue
        except OSError as e:
            raise SparringError(f"cannot create a run directory under {RUNS}/: {e.strerror or e}") from None
    raise SparringError(f"{base}: too many runs of the same name started this second")


def latest_run() -> Path:
    runs = sorted((p for p in RUNS.glob("*") if (p / "config.toml").exists()), key=lambda p: p.stat().st_mtime)
    if not runs:
        raise SparringError(f"no run under {RUNS}/ to resume; name one with --out")
    return runs[-1]

