"""A run scored by a scoring file (``seqtutor train --scoring FILE``): its copy, its stages, their log.

* The file is checked, then copied into the run folder (``scoring.toml`` or ``scoring.json``) before
  training; the run's env reads that copy (``objective="file:<run>/scoring.toml"``), so a resumed run, a
  report or ``seqtutor sample --run`` read what the run was trained with, under the same checks, even
  after the original is edited or gone.
* A staged file's switches are written to ``stages.json`` as they happen (the stage, its name, the env
  step of the switch and why), logged as ``train/stage``, printed, and shown on the report; the env
  of a finished run (:meth:`~seqtutor_agents.runs.config.TrainConfig.resolved_env_kwargs`) starts in the
  stage the run reached. A resumed run continues in the stage of its checkpoint's step, with the steps
  it spent there; the window of recent scores starts empty (it is not part of a checkpoint).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

from seqtutor_envs.io import atomic_write_text
from seqtutor_envs.smiles.scoring_file import ScoringFileError, load_scoring_file

from .run_folder import ConfigError

SCORING_ENV = "SeqTutor-SMILES-v0"
STAGES_FILE = "stages.json"
COPY_STEM = "scoring"
FILE_PREFIX = "file:"


def scoring_copy(out: str | Path, scoring: str) -> Path:
    """Where a run keeps its copy of the scoring file ``scoring`` (the suffix says TOML or JSON)."""
    return Path(out) / (COPY_STEM + Path(scoring).suffix.lower())


def check_scoring_settings(config: Any) -> None:
    """Refuse a scoring file on another env, beside another objective, or a file objective given another way."""
    objective = config.env_kwargs.get("objective")
    if isinstance(objective, str) and objective.strip().lower().startswith(FILE_PREFIX):
        raise ConfigError(
            f"give a scoring file with --scoring {objective.strip()[len(FILE_PREFIX) :]} (the run keeps a "
            "copy of it), not as --env-kwarg objective=file:..."
        )
    if "scoring_stage" in config.env_kwargs:
        raise ConfigError(
            "scoring_stage is set by the run itself (the stage its scoring file reached), not by --env-kwarg"
        )
    if config.scoring is None:
        return
    if not isinstance(config.scoring, str) or not config.scoring.strip():
        raise ConfigError(f"--scoring must be the path of a scoring file, got {config.scoring!r}")
    if config.env_id != SCORING_ENV:
        raise ConfigError(
            f"--scoring {config.scoring}: a scoring file scores molecules; it needs --env {SCORING_ENV}, "
            f"not {config.env_id}"
        )
    if "objective" in config.env_kwargs:
        raise ConfigError(
            f"--scoring {config.scoring} is the run's objective: leave out --env-kwarg "
            f"objective={config.env_kwargs['objective']}"
        )


def read_stage_log(run: str | Path) -> list[dict[str, Any]]:
    """The stage records of a run (``[]`` without a staged scoring file); a damaged file is a :class:`ConfigError`."""
    path = Path(run) / STAGES_FILE
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        records = data["stages"]
        for record in records:
            int(record["stage"]), int(record["step"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{path} is damaged ({type(exc).__name__}: {exc}); it records the run's stage switches"
        ) from None
    return records


def write_stage_log(run: str | Path, records: list[dict[str, Any]]) -> None:
    atomic_write_text(Path(run) / STAGES_FILE, json.dumps({"stages": records}, indent=2) + "\n")


def scoring_env_kwargs(out: str | Path, scoring: str) -> dict[str, Any]:
    """The env settings of a run scored by ``scoring``: its copy, and the stage it reached (if past the first)."""
    kwargs: dict[str, Any] = {"objective": FILE_PREFIX + str(scoring_copy(out, scoring))}
    records = read_stage_log(out)
    if records and int(records[-1]["stage"]) > 1:
        kwargs["scoring_stage"] = int(records[-1]["stage"])
    return kwargs


def read_scoring_source(config: Any) -> str | None:
    """A new run's scoring file, checked (as the env will read it) and read, before the run folder is touched."""
    if config.scoring is None:
        return None

    try:
        load_scoring_file(config.scoring)
        return Path(config.scoring).read_text(encoding="utf-8")
    except (ScoringFileError, OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--scoring: {exc}") from None


def keep_scoring_copy(out: Path, config: Any, source: str | None, resume: bool) -> None:
    """Write a new run's copy of its scoring file; a resumed run must still have its own."""
    if config.scoring is None:
        return
    copy = scoring_copy(out, config.scoring)
    if resume:
        if not copy.is_file():
            raise ConfigError(f"cannot resume {out}: its copy of the scoring file, {copy}, is missing")
        return

    atomic_write_text(copy, source or "")


#: The files a scoring run adds to its folder (removed with the run by ``--overwrite``).
RUN_FILES = (COPY_STEM + ".toml", COPY_STEM + ".json", STAGES_FILE)


def stage_log_callback(out: Path):
    """An SB3 callback that keeps a staged run's stage: restores it on resume, records every switch (see above)."""

    class StageLog(BaseCallback):
        def _on_training_start(self) -> None:
            self.stages = self.training_env.get_attr("stages")[0]
            if self.stages is None:
                return
            step = int(self.model.num_timesteps)
            self.records = [r for r in read_stage_log(out) if int(r["step"]) <= step] or [
                {"stage": 1, "name": self.stages.stages[0].name, "step": 0, "reason": "start"}
            ]
            last = self.records[-1]
            self.stages.set_stage(int(last["stage"]), steps_in_stage=step - int(last["step"]))
            self.stages.total_steps = step
            self.seen = len(self.stages.switches)
            write_stage_log(out, self.records)

        def _on_step(self) -> bool:
            if self.stages is None:
                return True
            while self.seen < len(self.stages.switches):
                switch = self.stages.switches[self.seen]
                self.seen += 1
                name = self.stages.stages[switch.stage - 1].name
                self.records.append(
                    {
                        "stage": switch.stage,
                        "name": name,
                        "step": int(self.model.num_timesteps),
                        "reason": switch.reason,
                    }
                )
                write_stage_log(out, self.records)
                self.logger.record("train/stage", switch.stage)
                print(f"stage {switch.stage} ({name}) from env step {self.model.num_timesteps:,}: {switch.reason}")
            return True

        def _on_rollout_end(self) -> None:
            if self.stages is not None:
                self.logger.record("train/stage", self.stages.stage)

    return StageLog()
