"""Roll a policy out on a seqtutor env's native vector version and collect finished episodes.

Used to sample from the prior, evaluate fine-tuned agents and build the benchmark tables. Every
env of a batch plays exactly one episode (episodes are not picked by when they end, which would
favour short SMILES), and per-step figures are averaged over the steps of those episodes:
``log p_prior(a|s)`` of the chosen tokens and, when the policy reports its distribution, the exact
``KL(pi(.|s) || p_prior(.|s))`` and entropy ``H(pi(.|s))`` over the (small) vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import gymnasium as gym
import numpy as np
from tqdm.auto import tqdm

#: ``act(obs, episode_start) -> (actions, log_pi)``: a batch of actions for the batch of
#: observations, and the policy's log-probabilities ``(n, num_actions)`` if known (else None).
ActFn = Callable[[dict[str, np.ndarray], np.ndarray], tuple[np.ndarray, np.ndarray | None]]


@dataclass
class EpisodeBatch:
    """Finished episodes and per-step averages."""

    finals: dict[str, Any]  # final-step info per episode (composition / smiles and scores)
    returns: np.ndarray  # (n,) undiscounted episode returns
    lengths: np.ndarray  # (n,) episode lengths
    domain_returns: np.ndarray  # (n,) sum of the domain reward over each episode
    prior_log_prob_per_step: float  # mean log p_prior(a|s) of the chosen tokens
    kl_per_step: float | None  # mean exact KL(pi || prior) per step (None if the policy gave no distribution)
    entropy_per_step: float | None = None  # mean exact entropy of pi per step, nats (None likewise)


def sample_categorical(log_probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One sample per row of a batch of log-probability vectors (inverse-CDF, vectorised)."""
    probs = np.exp(log_probs - log_probs.max(axis=1, keepdims=True))
    cdf = np.cumsum(probs, axis=1)
    u = rng.random(len(cdf)) * cdf[:, -1]
    return np.minimum((cdf < u[:, None]).sum(axis=1), log_probs.shape[1] - 1)


def log_softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax."""
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def prior_policy(seed: int = 0, temperature: float = 1.0) -> ActFn:
    """Sample from the prior itself, read from the observation's ``prior_log_probs``."""
    rng = np.random.default_rng(seed)

    def act(obs: dict[str, np.ndarray], episode_start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        log_pi = log_softmax(obs["prior_log_probs"].astype(np.float64) / temperature)
        return sample_categorical(log_pi, rng), log_pi

    return act


def run_episodes(
    env_id: str,
    n_episodes: int,
    act: ActFn,
    batch_size: int = 1000,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    progress: bool = False,
) -> EpisodeBatch:
    """Play ``n_episodes`` episodes of ``env_id`` (one per env, ``batch_size`` envs at a time).

    :param env_id: a seqtutor env id with a native vector version.
    :param n_episodes: number of episodes.
    :param act: the policy (see :data:`ActFn`).
    :param batch_size: envs stepped together.
    :param seed: seed of the first batch (batch k uses ``seed + k * batch_size``).
    :param env_kwargs: env keyword arguments.
    """
    if n_episodes < 1:
        raise ValueError(f"n_episodes must be >= 1, got {n_episodes}")
    finals: dict[str, list] = {}
    returns, lengths, domain_returns = [], [], []
    log_prob_sum, kl_sum, entropy_sum, steps_total, kl_known = 0.0, 0.0, 0.0, 0, True
    bar = tqdm(total=n_episodes, desc=f"{env_id} episodes", disable=not progress)
    for k, start in enumerate(range(0, n_episodes, batch_size)):
        n = min(batch_size, n_episodes - start)
        envs = gym.make_vec(env_id, num_envs=n, autoreset_mode="same_step", **(env_kwargs or {}))
        obs, _ = envs.reset(seed=seed + k * batch_size)
        live = np.ones(n, dtype=bool)
        ret = np.zeros(n)
        dom = np.zeros(n)
        length = np.zeros(n, dtype=np.int64)
        episode_start = np.ones(n, dtype=bool)
        batch_finals: dict[str, np.ndarray] = {}
        while live.any():
            actions, log_pi = act(obs, episode_start)
            chosen_log_p = obs["prior_log_probs"][np.arange(n), actions].astype(np.float64)
            if log_pi is not None:
                pi = np.exp(log_pi)
                kl = (pi * (log_pi - obs["prior_log_probs"])).sum(1)
                kl_sum += float(kl[live].sum())
                entropy_sum += float(-(pi * np.where(pi > 0, log_pi, 0.0)).sum(1)[live].sum())
            else:
                kl_known = False
            log_prob_sum += float(chosen_log_p[live].sum())
            steps_total += int(live.sum())
            obs, reward, terminated, truncated, info = envs.step(actions)
            ret += np.where(live, reward, 0.0)
            dom += np.where(live, info["domain_reward"], 0.0)
            length += live
            done = live & (terminated | truncated)
            if done.any():
                final = info["final_info"]
                for key, value in final.items():
                    if key.startswith("_") or key in envs.unwrapped.step_info_keys:
                        continue
                    if key not in batch_finals:
                        batch_finals[key] = np.empty(n, dtype=object)
                    for i in np.flatnonzero(done):
                        batch_finals[key][i] = value[i]
            live &= ~done
            episode_start = terminated | truncated
        envs.close()
        returns.append(ret)
        lengths.append(length)
        domain_returns.append(dom)
        for key, column in batch_finals.items():
            finals.setdefault(key, []).extend(column.tolist())
        bar.update(n)
    bar.close()
    out_finals: dict[str, Any] = {}
    for key, values in finals.items():
        try:
            out_finals[key] = np.array(values) if not isinstance(values[0], str) else list(values)
        except ValueError:
            out_finals[key] = values
    return EpisodeBatch(
        finals=out_finals,
        returns=np.concatenate(returns),
        lengths=np.concatenate(lengths),
        domain_returns=np.concatenate(domain_returns),
        prior_log_prob_per_step=log_prob_sum / steps_total,
        kl_per_step=kl_sum / steps_total if kl_known else None,
        entropy_per_step=entropy_sum / steps_total if kl_known else None,
    )
