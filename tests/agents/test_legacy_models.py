"""Models saved before the restructuring (seqtutor 0.1, commit f1aca65) still load and act the same.

``tests/data/legacy_psi_melody.zip`` was saved by that code (3,000 env steps of Ψ-learning, c = 0.5);
``legacy_psi_melody.json`` holds the greedy compositions it played then.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from seqtutor_agents import PsiLearning, make_sb3_vec_env
from seqtutor_agents.common.safe_load import UnsafeModelError
from seqtutor_agents.runs.evaluation import model_policy, run_episodes

DATA = Path(__file__).resolve().parents[1] / "data"


def test_a_model_saved_by_seqtutor_0_1_loads_and_plays_the_same_compositions():
    reference = json.loads((DATA / "legacy_psi_melody.json").read_text())
    env = make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=2, seed=0, **reference["env_kwargs"])
    with pytest.warns(UserWarning, match="train_freq is not readable without unpickling"):
        model = PsiLearning.load(DATA / "legacy_psi_melody.zip", env=env)
    batch = run_episodes(
        "SeqTutor-Melody-v0",
        4,
        model_policy(model, seed=0, deterministic=True),
        seed=reference["seed"],
        env_kwargs=reference["env_kwargs"],
    )
    assert np.array_equal(batch.finals["composition"], np.array(reference["greedy_compositions"]))
    model.learn(256, reset_num_timesteps=False)  # and it trains on, with the episode replay it was saved with
    assert type(model.replay_buffer).__name__ == "EpisodeReplayBuffer"


def test_a_legacy_model_without_an_env_is_refused_rather_than_unpickled():
    with pytest.raises(UnsafeModelError, match="Pass env="):
        PsiLearning.load(DATA / "legacy_psi_melody.zip")
