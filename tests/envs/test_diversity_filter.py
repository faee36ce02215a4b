"""REINVENT's IdenticalMurckoScaffold diversity filter: buckets, thresholds, order, repeats, env kwarg."""

from collections.abc import Sequence

import gymnasium as gym
import numpy as np
import pytest

import seqtutor_envs  # noqa: F401
from seqtutor_envs.smiles.diversity_filter import (
    DiversityFilter,
    apply_diversity_filter,
    murcko_scaffold,
)
from seqtutor_envs.smiles.env import SmilesEnv, SmilesVectorEnv
from seqtutor_envs.smiles.guacamol import guacamol_objective
from seqtutor_envs.smiles.objectives import Objective
from seqtutor_envs.smiles.scoring import MoleculeScorer, parse_smiles

ENV_ID = "SeqTutor-SMILES-v0"
# 30 distinct molecules sharing the benzene scaffold: alkyl chains of 1..30 carbons on a phenyl.
BENZENES = ["C" * k + "c1ccccc1" for k in range(1, 31)]
PYRIDINE = "CCc1ccncc1"


class Fixed(Objective):
    """Test objective: ``scores[smiles]`` if given, else ``default`` for a valid SMILES, 0 if invalid."""

    name = "fixed"

    def __init__(self, scores: dict[str, float] | None = None, default: float = 1.0) -> None:
        super().__init__(MoleculeScorer())
        self.scores = scores or {}
        self.default = default

    def score_final(self, smiles: Sequence[str]) -> np.ndarray:
        values = [self.scores.get(s, self.default) if parse_smiles(s) is not None else 0.0 for s in smiles]
        return np.array(values, dtype=np.float64)


def test_reinvent_defaults_and_scaffold_definition():
    df = DiversityFilter(Fixed())
    assert (df.bucket_size, df.min_score, df.penalize_repeats) == (25, 0.4, True)
    # Bemis-Murcko: side chains stripped, ring atoms and linkers kept with their element types (not generic).
    assert murcko_scaffold(parse_smiles("CCCc1ccncc1")) == "c1ccncc1"
    assert murcko_scaffold(parse_smiles("OCc1ccccc1CCC1CCNCC1")) == "c1ccc(CCC2CCNCC2)cc1"
    assert murcko_scaffold(parse_smiles("CCCCO")) == ""


def test_bucket_fills_after_bucket_size_molecules_then_zero():
    df = DiversityFilter(Fixed())
    out = np.concatenate([df.score_final([s]) for s in BENZENES])  # one molecule per call, like episodes
    assert out.tolist() == [1.0] * 25 + [0.0] * 5
    assert df.num_scaffolds == 1 and df.num_molecules == 30 and df.num_full_buckets == 1
    assert df.num_penalised == df.num_penalised_full == 5 and df.scaffold_counts() == {"c1ccccc1": 30}
    # Another scaffold is unaffected by the full benzene bucket.
    assert df.score_final([PYRIDINE]).tolist() == [1.0]
    assert df.stats() == {
        "scaffolds": 2,
        "molecules": 31,
        "full_buckets": 1,
        "penalised": 5,
        "penalised_full_bucket": 5,
        "penalised_repeat": 0,
    }


def test_a_batch_is_processed_in_order():
    batch = [BENZENES[0], PYRIDINE, *BENZENES[1:], BENZENES[0]]
    one_by_one = DiversityFilter(Fixed(), bucket_size=3)
    expected = np.concatenate([one_by_one.score_final([s]) for s in batch])
    batched = DiversityFilter(Fixed(), bucket_size=3)
    out = batched.score_final(batch)
    assert np.array_equal(out, expected)
    # benzene #1 (1), pyridine (1), benzenes #2-#3 (1), the other benzenes (0), the repeat of #1 (0).
    assert out.tolist() == [1.0, 1.0, 1.0, 1.0] + [0.0] * 27 + [0.0]
    assert batched.num_penalised_full == 27 and batched.num_penalised_repeats == 1


def test_repeats_score_zero_even_when_written_differently():
    df = DiversityFilter(Fixed())
    # Same molecule twice in a batch, then a non-canonical string and a stereo variant of it.
    out = df.score_final(["CC(O)c1ccccc1", "CC(O)c1ccccc1", "c1ccccc1C(C)O", "C[C@H](O)c1ccccc1"])
    assert out.tolist() == [1.0, 0.0, 0.0, 0.0] and df.num_molecules == 1 and df.num_penalised_repeats == 3
    keep = DiversityFilter(Fixed(), bucket_size=2, penalize_repeats=False)
    out = keep.score_final(["Cc1ccccc1"] * 3 + ["CCc1ccccc1", "CCCc1ccccc1", "Cc1ccccc1"])
    # Repeats keep their score and are counted once; the third distinct benzene overfills the bucket of 2,
    # after which even the first molecule scores 0 (its bucket is over-full).
    assert out.tolist() == [1.0, 1.0, 1.0, 1.0, 0.0, 0.0] and keep.num_molecules == 3


def test_molecules_below_min_score_pass_and_are_not_counted():
    low = dict.fromkeys(BENZENES[:-1], 0.3)
    df = DiversityFilter(Fixed(low), bucket_size=2)
    out = df.score_final(BENZENES[:-1] + BENZENES[:-1])  # 29 low scores, each twice
    assert np.all(out == 0.3) and df.num_molecules == 0 and df.num_scaffolds == 0 and df.num_penalised == 0
    assert df.score_final([BENZENES[-1]]).tolist() == [1.0]  # the bucket is still empty
    at_threshold = DiversityFilter(Fixed({"Cc1ccccc1": 0.4}))
    at_threshold.score_final(["Cc1ccccc1"])
    assert at_threshold.num_molecules == 1  # ">= min_score" counts


def test_invalid_molecules_pass_through_and_acyclic_share_a_bucket():
    df = DiversityFilter(Fixed(), bucket_size=2)
    assert df.score_final(["", "C1CC", "Xx%%%", None]).tolist() == [0.0] * 4 and df.num_molecules == 0
    assert df.score_final(["CCO", "CCCO", "CCCCO", "CCN"]).tolist() == [1.0, 1.0, 0.0, 0.0]
    assert df.scaffold_counts() == {"": 4}


def test_reset_and_wrapping_a_guacamol_oracle():
    df = DiversityFilter(guacamol_objective("isomers_c11h24"), bucket_size=1)
    assert df.name == "guacamol:isomers_c11h24+diversity_filter" and df.invalid_value == 0.0
    assert df.score_final(["CCCCCCCCCCC", "CCCCCCCCC(C)C", "C1CCCCCCCCCC1"]).tolist()[:2] == [1.0, 0.0]
    df.reset()
    assert df.num_molecules == 0 and df.num_penalised == 0
    assert df.score_final(["CCCCCCCCC(C)C"]).tolist() == [1.0]


def test_filter_arguments_are_checked():
    with pytest.raises(ValueError, match="bucket_size must be a positive integer, got 0"):
        DiversityFilter(Fixed(), bucket_size=0)
    with pytest.raises(ValueError, match="min_score must be a finite number, got nan"):
        DiversityFilter(Fixed(), min_score=float("nan"))
    with pytest.raises(TypeError, match="wraps an Objective"):
        DiversityFilter(lambda mol: 1.0)
    obj = Fixed()
    assert apply_diversity_filter(obj, None) is obj and apply_diversity_filter(obj, False) is obj
    assert isinstance(apply_diversity_filter(obj, True), DiversityFilter)
    assert apply_diversity_filter(obj, {"bucket_size": 3}).bucket_size == 3
    with pytest.raises(TypeError, match=r"unknown diversity_filter option\(s\) \['bucket'\]"):
        apply_diversity_filter(obj, {"bucket": 3})
    with pytest.raises(TypeError, match=r"diversity_filter must be.*'yes'"):
        apply_diversity_filter(obj, "yes")


# ---- environment ------------------------------------------------------------------------------


def _final_reward(env, smiles: str) -> float:
    env.reset(seed=0)
    for a in env.unwrapped.vocab.encode(smiles, add_bos=False, add_end=True):
        _, _, terminated, _, info = env.step(int(a))
        if terminated:
            return info["reward_terms"]["final_score"]
    raise AssertionError("episode did not end")


def test_env_filter_is_off_by_default():
    env = gym.make(ENV_ID)
    assert env.unwrapped.diversity_filter is None
    assert not isinstance(env.unwrapped.task.objective, DiversityFilter)
    first, second = _final_reward(env, "CCOc1ccccc1"), _final_reward(env, "CCOc1ccccc1")
    assert first == second > 0.4


def test_env_filter_keeps_state_across_episodes():
    env = gym.make(ENV_ID, diversity_filter={"bucket_size": 1})
    df = env.unwrapped.diversity_filter
    # The construction-time check of the objective left no trace in the memory.
    assert isinstance(df, DiversityFilter) and df.bucket_size == 1 and df.num_molecules == 0
    assert _final_reward(env, "CCOc1ccccc1") > 0.4  # QED 0.58
    assert _final_reward(env, "CCOc1ccccc1") == 0.0  # a repeat
    assert _final_reward(env, "CCCOc1ccccc1") == 0.0  # benzene bucket of 1 is full
    assert _final_reward(env, "CCOc1ccncc1") > 0.4  # pyridine: a new scaffold
    assert df.stats()["scaffolds"] == 2 and df.num_penalised == 2
    assert gym.make(ENV_ID, diversity_filter=True).unwrapped.diversity_filter.bucket_size == 25
    with pytest.raises(TypeError, match="diversity_filter must be"):
        SmilesEnv(diversity_filter="yes")


def test_vector_env_scores_simultaneous_ends_in_env_order():
    venv = gym.make_vec(ENV_ID, num_envs=3, objective="guacamol:qed", diversity_filter={"bucket_size": 1})
    assert isinstance(venv, SmilesVectorEnv) and isinstance(venv.diversity_filter, DiversityFilter)
    venv.reset(seed=0)
    ids = venv.vocab.encode("CCOc1ccccc1", add_bos=False, add_end=True)
    for a in ids:  # all three envs write the same molecule and finish at the same step
        _, _, terminated, _, info = venv.step(np.full(3, a))
    assert terminated.all()
    domain = np.asarray(info["domain_reward"])
    assert domain[0] > 0.4 and domain[1:].tolist() == [0.0, 0.0]
    assert venv.diversity_filter.num_penalised_repeats == 2
