"""Step-by-step invariant checks of a native seqtutor vector env (property fuzzing).

:class:`VectorEnvChecker` steps a :class:`~seqtutor_envs.sequence_env.SequenceVectorEnv` (either autoreset
mode) with the caller's actions and checks every step against what the env documents, counting
violations by kind instead of stopping at the first one:

* the observation lies in the observation space; its tokens are the episode's primer then exactly the
  actions taken so far, padded; its ``step`` counts them; its ``prior_log_probs`` lie in
  ``[LOG_PROB_FLOOR, 0]`` and are normalised (logsumexp 0 to float32 precision; the floor only adds
  ``exp(-100)``-sized mass);
* rewards are finite and equal ``prior_weight * info["prior_log_prob"] + info["domain_reward"] / c``
  (float64 rounding), and ``info["prior_log_prob"]`` is the previous observation's log-probability
  of the action taken; ``info["c"]`` and ``info["prior_weight"]`` are the env's; every step key is
  present;
* an episode terminates exactly when it reaches its maximum length or emits the task's END token,
  never earlier or later, and never truncates; its length lies in ``[1, max_length]``;
* the step that ends an episode carries the episode's final info (``final_obs``/``final_info`` in
  same-step mode), whose composition or SMILES is the actions taken; in next-step mode the following
  step resets that env, pays 0 and reports no step info for it.

It also keeps a running SHA-1 of everything the env returned, so that two runs with the same seed
and actions can be compared bit for bit (:attr:`digest`). The checks are numpy work on the batch
plus Python work per *finished episode*; this is a test tool, not something to leave in a training loop.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode

from .reward import DOMAIN_REWARD, LOG_PROB_FLOOR, PRIOR_LOG_PROB, PRIOR_WEIGHT, C
from .sequence_env import SequenceVectorEnv

#: Relative tolerance of the recomposed reward (float64 arithmetic done in another order).
REWARD_RTOL = 1e-12
#: Largest |logsumexp| of an observation's log-probabilities (float32 softmax over <= ~100 tokens).
LOGSUMEXP_TOL = 1e-4


class VectorEnvChecker:
    """Check a native seqtutor vector env's invariants on every step (see the module docstring).

    :param env: the env, as ``gym.make_vec(env_id, num_envs=N, autoreset_mode=...)`` returns it.
    :param max_examples: messages kept per violation kind (the counts are always complete).
    """

    def __init__(self, env: SequenceVectorEnv, max_examples: int = 3) -> None:
        env = getattr(env, "unwrapped", env)
        if not isinstance(env, SequenceVectorEnv):
            raise TypeError(f"expected a native seqtutor vector env, got {type(env).__name__}")
        self.env = env
        self.task = env.task
        self.n = env.num_envs
        self.max_length = self.task.max_length
        self.pad = self.task.pad_token
        vocab = getattr(self.task, "vocab", None)
        self.end_token = None if vocab is None else vocab.end_id
        self.same_step = env.autoreset_mode == AutoresetMode.SAME_STEP
        self.max_examples = max_examples
        self.violations: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = {}
        self.episodes = 0
        self.steps = 0  # env steps (sub-env transitions that emitted a token)
        self.calls = 0  # vector step() calls
        self.length_counts: Counter[int] = Counter()
        self._hash = hashlib.sha1()
        self._final_keys: frozenset[str] | None = None
        self._obs: dict[str, np.ndarray] | None = None

    # ------------------------------------------------------------------ bookkeeping
    def _violate(self, kind: str, message: str, count: int = 1) -> None:
        self.violations[kind] += count
        examples = self.examples.setdefault(kind, [])
        if len(examples) < self.max_examples:
            examples.append(f"call {self.calls}: {message}")

    @property
    def digest(self) -> str:
        """SHA-1 of every observation, reward and flag returned so far (bit-exact determinism checks)."""
        return self._hash.hexdigest()

    def _absorb(self, obs: dict[str, np.ndarray], *arrays: np.ndarray) -> None:
        for key in sorted(obs):
            self._hash.update(np.ascontiguousarray(obs[key]).tobytes())
        for array in arrays:
            self._hash.update(np.ascontiguousarray(array).tobytes())

    # ------------------------------------------------------------------ API
    def reset(self, seed: int | None = None) -> dict[str, np.ndarray]:
        """Reset the env (all sub-envs) and check the fresh observations.

        :param seed: passed to ``env.reset``.
        """
        obs, _ = self.env.reset(seed=seed)
        self._tokens = np.full((self.n, self.max_length + 1), self.pad, dtype=np.int64)
        self._tokens[:, 0] = obs["tokens"][:, 0]
        self._length = np.zeros(self.n, dtype=np.int64)
        self._resetting = np.zeros(self.n, dtype=bool)
        self._check_observation(obs)
        self._absorb(obs)
        self._obs = obs
        return obs

    def step(self, actions: np.ndarray) -> tuple[Any, ...]:
        """Step the env with ``actions`` (one per sub-env) and check the transition; returns what the env returned.

        :param actions: int array of shape ``(num_envs,)`` of valid actions.
        """
        if self._obs is None:
            raise RuntimeError("call reset() before step()")
        actions = np.asarray(actions, dtype=np.int64)
        prev = self._obs
        obs, rewards, terminated, truncated, info = self.env.step(actions)
        self.calls += 1
        self._absorb(obs, rewards, terminated, truncated)
        n = self.n
        resetting = self._resetting  # next-step mode: these rows only reset this call
        stepped = ~resetting
        self._check_step_info(info, stepped, rewards, terminated)
        self._check_rewards(info, stepped, rewards, prev, actions)
        if np.any(truncated):
            self._violate(
                "truncated", f"truncated rows {np.flatnonzero(truncated)[:5].tolist()} (the envs never truncate)"
            )

        # The token each stepping row just emitted, and the episode length after it.
        over = stepped & (self._length >= self.max_length)
        if np.any(over):  # only a broken env steps a finished episode; skip those rows, do not crash
            self._violate(
                "step_after_end",
                f"rows {np.flatnonzero(over)[:5].tolist()} stepped past max_length {self.max_length}",
                int(over.sum()),
            )
            stepped = stepped & ~over
        rows = np.flatnonzero(stepped)
        self._tokens[rows, self._length[rows] + 1] = actions[rows]
        self._length[rows] += 1
        self.steps += len(rows)
        expected_end = stepped & (self._length >= self.max_length)
        if self.end_token is not None:
            expected_end |= stepped & (actions == self.end_token)
        wrong = np.flatnonzero(expected_end != terminated)
        if len(wrong):
            i = int(wrong[0])
            self._violate(
                "termination",
                f"row {i}: terminated={bool(terminated[i])} after {self._length[i]} tokens, action "
                f"{int(actions[i])} (expected {bool(expected_end[i])}: only at max_length={self.max_length} or END)",
                len(wrong),
            )
        done = np.flatnonzero(terminated & stepped)
        if len(done):
            self._check_episode_ends(done, info)

        # Rows that start a new episode on this call.
        fresh = done if self.same_step else np.flatnonzero(resetting)
        if len(fresh):
            self._tokens[fresh] = self.pad
            self._tokens[fresh, 0] = obs["tokens"][fresh, 0]
            self._length[fresh] = 0
        self._resetting = np.zeros(n, dtype=bool) if self.same_step else terminated & stepped
        self._check_observation(obs)
        self._obs = obs
        return obs, rewards, terminated, truncated, info

    # ------------------------------------------------------------------ checks
    def _check_step_info(self, info: dict, stepped: np.ndarray, rewards: np.ndarray, terminated: np.ndarray) -> None:
        if stepped.any():
            missing = [key for key in self.env.step_info_keys if key not in info or f"_{key}" not in info]
            if missing:
                self._violate("step_info_missing", f"keys {missing} missing from info")
                return
            mask = np.asarray(info[f"_{PRIOR_LOG_PROB}"], dtype=bool)
            if not np.array_equal(mask, stepped):
                self._violate(
                    "step_info_mask",
                    f"info mask {mask.astype(int).tolist()} != rows that stepped {stepped.astype(int).tolist()}",
                )
        idle = ~stepped
        if np.any(rewards[idle] != 0) or np.any(terminated[idle]):
            self._violate("autoreset_step", "a row that only reset this call got a reward or terminated")

    def _check_rewards(
        self, info: dict, stepped: np.ndarray, rewards: np.ndarray, prev: dict, actions: np.ndarray
    ) -> None:
        if not np.all(np.isfinite(rewards)):
            self._violate(
                "reward_not_finite",
                f"rewards {rewards[~np.isfinite(rewards)][:5].tolist()}",
                int(np.count_nonzero(~np.isfinite(rewards))),
            )
        if not stepped.any() or PRIOR_LOG_PROB not in info:
            return
        rows = np.flatnonzero(stepped)
        log_p = np.asarray(info[PRIOR_LOG_PROB], dtype=np.float64)[rows]
        domain = np.asarray(info[DOMAIN_REWARD], dtype=np.float64)[rows]
        c = np.asarray(info[C], dtype=np.float64)[rows]
        w = np.asarray(info[PRIOR_WEIGHT], dtype=np.float64)[rows]
        if np.any(c != self.env.c) or np.any(w != self.env.prior_weight):
            self._violate(
                "info_c_or_weight",
                f"info c {np.unique(c).tolist()} / prior_weight {np.unique(w).tolist()}, "
                f"env c={self.env.c}, prior_weight={self.env.prior_weight}",
            )
        recomposed = w * log_p + domain / c
        bad = ~(np.abs(rewards[rows] - recomposed) <= REWARD_RTOL * np.maximum(1.0, np.abs(recomposed)))
        if np.any(bad):
            j = int(np.argmax(bad))
            self._violate(
                "reward_mismatch",
                f"row {rows[j]}: reward {rewards[rows[j]]!r} != prior_weight * log p + domain / c = {recomposed[j]!r}",
                int(bad.sum()),
            )
        expected_log_p = prev["prior_log_probs"][rows, actions[rows]].astype(np.float64)
        bad = log_p != expected_log_p
        if np.any(bad):
            j = int(np.argmax(bad))
            self._violate(
                "prior_log_prob_mismatch",
                f"row {rows[j]}: info log p {log_p[j]!r} != the previous observation's {expected_log_p[j]!r}",
                int(bad.sum()),
            )

    def _check_observation(self, obs: dict[str, np.ndarray]) -> None:
        if not self.env.observation_space.contains(obs):
            self._violate("obs_not_in_space", "the observation is not in env.observation_space")
        # A mismatch is counted, then the tracking follows the env, so that one bug is not re-counted
        # on every later step of the episode.
        if not np.array_equal(obs["step"], self._length):
            i = int(np.argmax(obs["step"] != self._length))
            self._violate("obs_step", f"row {i}: step {int(obs['step'][i])}, expected {int(self._length[i])}")
            self._length = np.clip(np.asarray(obs["step"], dtype=np.int64), 0, self.max_length)
        if not np.array_equal(obs["tokens"], self._tokens):
            i = int(np.argmax(np.any(obs["tokens"] != self._tokens, axis=1)))
            self._violate(
                "obs_tokens",
                f"row {i}: tokens {obs['tokens'][i].tolist()} != primer + actions {self._tokens[i].tolist()}",
            )
            if np.shape(obs["tokens"]) == self._tokens.shape:
                self._tokens = np.array(obs["tokens"], dtype=np.int64)
        log_probs = np.asarray(obs["prior_log_probs"], dtype=np.float64)
        if np.any(log_probs > 0) or np.any(log_probs < LOG_PROB_FLOOR) or not np.all(np.isfinite(log_probs)):
            self._violate("log_probs_range", f"prior_log_probs outside [{LOG_PROB_FLOOR}, 0]")
        top = log_probs.max(axis=1)
        lse = top + np.log(np.exp(log_probs - top[:, None]).sum(axis=1))
        bad = ~(np.abs(lse) <= LOGSUMEXP_TOL)
        if np.any(bad):
            i = int(np.argmax(bad))
            self._violate("log_probs_not_normalised", f"row {i}: logsumexp {lse[i]!r}", int(bad.sum()))

    def _check_episode_ends(self, done: np.ndarray, info: dict) -> None:
        lengths = self._length[done]
        self.episodes += len(done)
        self.length_counts.update(lengths.tolist())
        if np.any(lengths < 1) or np.any(lengths > self.max_length):
            self._violate("episode_length", f"lengths {lengths.tolist()} outside [1, {self.max_length}]")
        source = info
        if self.same_step:
            for key in ("final_obs", "final_info"):
                mask = info.get(f"_{key}")
                if key not in info or mask is None or not np.all(np.asarray(mask)[done]):
                    self._violate("final_info_missing", f"{key} missing for rows {done.tolist()}")
                    return
            source = info["final_info"]
            for i in done:
                last = info["final_obs"][i]
                if int(last["step"]) != self._length[i] or not np.array_equal(last["tokens"], self._tokens[i]):
                    self._violate(
                        "final_obs",
                        f"row {i}: final_obs holds step {int(last['step'])} "
                        f"{last['tokens'].tolist()}, expected {self._tokens[i].tolist()}",
                    )
        keys = frozenset(
            k
            for k in source
            if not k.startswith("_") and k not in self.env.step_info_keys and not k.startswith("final")
        )
        if self._final_keys is None:
            self._final_keys = keys
        if not keys or keys != self._final_keys:
            self._violate(
                "final_info_missing", f"episode keys {sorted(keys)} (first episode had {sorted(self._final_keys)})"
            )
            return
        for key in keys:
            mask = source.get(f"_{key}")
            if mask is None or not np.all(np.asarray(mask)[done]):
                self._violate("final_info_missing", f"final info {key!r} not flagged for rows {done.tolist()}")
                return
        for i in done:
            emitted = self._tokens[i, 1 : 1 + self._length[i]]
            if "composition" in keys and not np.array_equal(source["composition"][i], emitted):
                self._violate(
                    "final_info_content",
                    f"row {i}: composition {source['composition'][i].tolist()} != actions {emitted.tolist()}",
                )
            if "smiles" in keys and source["smiles"][i] != self.task.describe(emitted):
                self._violate(
                    "final_info_content",
                    f"row {i}: smiles {source['smiles'][i]!r} != the actions' {self.task.describe(emitted)!r}",
                )

    # ------------------------------------------------------------------ summary
    def summary(self) -> dict[str, Any]:
        """Figures of the run so far: episodes, env steps, episode lengths, violations by kind."""
        lengths = np.array(sorted(self.length_counts.elements())) if self.length_counts else np.zeros(1)
        return {
            "episodes": self.episodes,
            "env_steps": self.steps,
            "calls": self.calls,
            "length_min": int(lengths.min()),
            "length_mean": float(lengths.mean()),
            "length_max": int(lengths.max()),
            "violations": dict(self.violations),
            "examples": {k: list(v) for k, v in self.examples.items()},
        }
