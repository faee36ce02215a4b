"""Episodes of trained models (or of the prior) through the shared collector, and the sample / evaluate jobs.

:func:`model_policy` turns a model into an :data:`~seqtutor_envs.sampling.ActFn` and
:func:`run_episodes` plays it through :class:`~seqtutor_agents.common.rollout.Rollout` -- the same
collector the learners train with, so KL(π ‖ prior) and entropy come from the one exact
definition (:func:`~seqtutor_agents.common.kl.kl_and_entropy`). Every policy reports its full
action distribution:

* seqtutor learners (any policy with ``recurrent_log_probs``): the acting distribution, LSTM state
  carried per env;
* PPO / A2C: the actor's categorical distribution; RecurrentPPO: the same, LSTM state carried;
* DQN / QR-DQN: epsilon-greedy on the Q-values with the final exploration rate, as ``predict`` samples it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.distributions import CategoricalDistribution
from stable_baselines3.common.policies import ActorCriticPolicy

from seqtutor_envs.domains import get_domain
from seqtutor_envs.io import atomic_write_text
from seqtutor_envs.prior import LSTMPrior
from seqtutor_envs.progress import progress_bar
from seqtutor_envs.sampling import ActFn, log_softmax, prior_policy, sample_categorical

from ..common.rollout import Actor, Rollout
from ..common.vec_env import make_sb3_vec_env
from .csv_cells import csv_text

if TYPE_CHECKING:
    from seqtutor_envs.sequence_env import SequenceEnv


def model_policy(model: BaseAlgorithm, seed: int = 0, deterministic: bool = False) -> ActFn:
    """An :data:`ActFn` sampling from a trained model (greedy if ``deterministic``)."""
    rng = np.random.default_rng(seed)
    th.manual_seed(seed)
    policy = model.policy
    policy.set_training_mode(False)

    def choose(log_pi: np.ndarray) -> np.ndarray:
        return log_pi.argmax(1) if deterministic else sample_categorical(log_pi, rng)

    if hasattr(policy, "recurrent_log_probs"):
        return _seqtutor_act(policy, choose)
    if type(policy).__name__.startswith("Recurrent") and hasattr(policy, "lstm_hidden_state_shape"):
        return _recurrent_ppo_act(policy, choose)
    if isinstance(policy, ActorCriticPolicy):
        return _actor_critic_act(policy, choose)
    if hasattr(model, "exploration_final_eps"):  # DQN, QR-DQN: epsilon-greedy on their greedy action
        return _epsilon_greedy_act(model, rng, deterministic)
    raise TypeError(f"no evaluation policy for {type(model).__name__}")


def _seqtutor_act(policy: Any, choose: Callable[[np.ndarray], np.ndarray]) -> ActFn:
    """A seqtutor learner's acting distribution, its LSTM state carried per env."""
    device = policy.device

    def step(obs, state, episode_start):
        obs_t = {k: th.as_tensor(v, device=device) for k, v in obs.items()}
        return policy.recurrent_log_probs(obs_t, state, th.as_tensor(episode_start, device=device))

    return _recurrent_act(policy.initial_state, step, choose)


def _recurrent_ppo_act(policy: Any, choose: Callable[[np.ndarray], np.ndarray]) -> ActFn:
    """sb3-contrib's RecurrentPPO: its actor's distribution, LSTM state carried per env."""
    device = policy.device
    layers, _, hidden = policy.lstm_hidden_state_shape

    def initial_state(n: int):
        return th.zeros(layers, n, hidden, device=device), th.zeros(layers, n, hidden, device=device)

    def step(obs, state, episode_start):
        obs_t, _ = policy.obs_to_tensor(obs)
        dist, state = policy.get_distribution(
            obs_t, state, th.as_tensor(episode_start, dtype=th.float32, device=device)
        )
        return dist.distribution.logits, state

    return _recurrent_act(initial_state, step, choose)


def _recurrent_act(
    initial_state: Callable[[int], Any], step: Callable, choose: Callable[[np.ndarray], np.ndarray]
) -> ActFn:
    """An :data:`ActFn` of a recurrent policy: its state from ``initial_state(n)`` (again when the
    number of envs changes), then ``step(obs, state, episode_start) -> (logits, new state)`` per call."""
    state: list = [None]

    def act(obs, episode_start):
        n = len(episode_start)
        if state[0] is None or state[0][0].shape[1] != n:
            state[0] = initial_state(n)
        with th.no_grad():
            logits, state[0] = step(obs, state[0], episode_start)
        log_pi = log_softmax(logits.cpu().numpy().astype(np.float64))
        return choose(log_pi), log_pi

    return act


def _actor_critic_act(policy: ActorCriticPolicy, choose: Callable[[np.ndarray], np.ndarray]) -> ActFn:
    """PPO / A2C: the actor's categorical distribution."""

    def act(obs, episode_start):
        obs_t, _ = policy.obs_to_tensor(obs)
        with th.no_grad():
            dist = policy.get_distribution(obs_t)
            assert isinstance(dist, CategoricalDistribution)  # seqtutor's actions are Discrete: SB3 makes a Categorical
            logits = dist.distribution.logits
        log_pi = log_softmax(logits.cpu().numpy().astype(np.float64))
        return choose(log_pi), log_pi

    return act


def _epsilon_greedy_act(model: BaseAlgorithm, rng: np.random.Generator, deterministic: bool) -> ActFn:
    """DQN / QR-DQN: epsilon-greedy on the greedy action with the final exploration rate, as ``predict`` samples it."""
    policy = model.policy
    eps = 0.0 if deterministic else float(model.exploration_final_eps)  # type: ignore[attr-defined]

    def act(obs, episode_start):
        obs_t, _ = policy.obs_to_tensor(obs)
        with th.no_grad():
            greedy = policy._predict(obs_t, deterministic=True).cpu().numpy().reshape(-1)
        space = model.action_space
        assert isinstance(space, gym.spaces.Discrete)  # DQN and QR-DQN act in Discrete spaces only
        n_actions = int(space.n)
        pi = np.full((len(greedy), n_actions), eps / n_actions)
        pi[np.arange(len(pi)), greedy] += 1.0 - eps
        log_pi = np.log(np.maximum(pi, 1e-300))
        return (sample_categorical(log_pi, rng) if eps > 0 else greedy), log_pi

    return act


# ---------------------------------------------------------------------- episodes
@dataclass
class EpisodeBatch:
    """Finished episodes and per-step averages."""

    finals: dict[str, Any]  # episode-end info per episode (composition / smiles and scores)
    returns: np.ndarray  # (n,) undiscounted episode returns
    lengths: np.ndarray  # (n,) episode lengths
    domain_returns: np.ndarray  # (n,) sum of the domain reward over each episode
    prior_log_prob_per_step: float  # mean log p_prior(a|s) of the chosen tokens
    kl_per_step: float | None  # mean exact KL(pi || prior) per step (None if the policy gave no distribution)
    entropy_per_step: float | None = None  # mean exact entropy of pi per step, nats (None likewise)
    prior_log_likelihoods: np.ndarray | None = None  # (n,) log p_prior(x) of each whole sequence
    policy_log_likelihoods: np.ndarray | None = (
        None  # (n,) log pi(x) under the policy that sampled it (None if unknown)
    )
    kl_sums: np.ndarray | None = None  # (n,) exact KL(pi || prior) of each step, summed per episode (None likewise)
    entropy_sums: np.ndarray | None = None  # (n,) exact entropy of pi at each step, summed over each episode

    def rows(self, env_id: str) -> list[dict[str, Any]]:
        """One CSV row per episode: the domain's columns, domain return, the prior's and the policy's log-likelihood."""
        domain = get_domain(env_id)
        n = len(self.returns)
        finals = [{key: values[i] for key, values in self.finals.items()} for i in range(n)]
        rows = []
        for i, final in enumerate(finals):
            policy = self.policy_log_likelihoods
            rows.append(
                {
                    "episode": i,
                    **domain.episode_row(final),
                    "domain_return": float(self.domain_returns[i]),
                    "prior_log_likelihood": float(self.prior_log_likelihoods[i])
                    if self.prior_log_likelihoods is not None
                    else "",
                    "policy_log_likelihood": float(policy[i]) if policy is not None else "",
                }
            )
        return rows


def numpy_actor(act: ActFn) -> Actor:
    """The collector's actor of a numpy :data:`ActFn` (its episode starts are the observations at step 0)."""

    def actor(obs: dict[str, th.Tensor], state: Any) -> tuple[th.Tensor, th.Tensor | None, Any]:
        arrays = {key: value.cpu().numpy() for key, value in obs.items()}
        actions, log_pi = act(arrays, arrays["step"] == 0)
        return th.as_tensor(actions), None if log_pi is None else th.as_tensor(log_pi), None

    return actor


def run_episodes(
    env_id: str,
    n_episodes: int,
    act: ActFn,
    batch_size: int = 1000,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    progress: bool = False,
    on_batch: Callable[[int], None] | None = None,
) -> EpisodeBatch:
    """Play ``n_episodes`` episodes of ``env_id``, one per env, ``batch_size`` envs at a time.

    Every env of a batch plays exactly one episode (episodes are not picked by when they end, which
    would favour short SMILES); per-step figures are averaged over the steps of those episodes.

    :param env_id: a registered seqtutor env id.
    :param act: the policy (see :data:`~seqtutor_envs.sampling.ActFn`).
    :param seed: seed of the first batch (batch k uses ``seed + k * batch_size``).
    :param env_kwargs: env keyword arguments.
    :param on_batch: called with the episodes done after each batch (e.g. to stop a job that would run too long).
    """
    if n_episodes < 1:
        raise ValueError(f"n_episodes must be >= 1, got {n_episodes}")
    actor = numpy_actor(act)
    parts: list[dict[str, Any]] = []
    totals = {"log_p": 0.0, "kl": 0.0, "entropy": 0.0, "steps": 0, "kl_known": True}
    with progress_bar(n_episodes, f"{env_id} episodes", "episodes", enabled=progress) as bar:
        for k, start in enumerate(range(0, n_episodes, batch_size)):
            n = min(batch_size, n_episodes - start)
            env = make_sb3_vec_env(env_id, n_envs=n, seed=seed + k * batch_size, **(env_kwargs or {}))
            parts.append(_one_episode_each(Rollout(env), actor, totals))
            env.close()
            bar.update(n)
            if on_batch is not None:
                on_batch(start + n)
    steps = totals["steps"]
    return EpisodeBatch(
        finals=_stack_finals([row for part in parts for row in part["finals"]]),
        returns=np.concatenate([p["returns"] for p in parts]),
        lengths=np.concatenate([p["lengths"] for p in parts]),
        domain_returns=np.concatenate([p["domain_returns"] for p in parts]),
        prior_log_prob_per_step=totals["log_p"] / steps,
        kl_per_step=totals["kl"] / steps if totals["kl_known"] else None,
        entropy_per_step=totals["entropy"] / steps if totals["kl_known"] else None,
        prior_log_likelihoods=np.concatenate([p["prior_ll"] for p in parts]),
        policy_log_likelihoods=np.concatenate([p["policy_ll"] for p in parts]) if totals["kl_known"] else None,
        kl_sums=np.concatenate([p["kl"] for p in parts]) if totals["kl_known"] else None,
        entropy_sums=np.concatenate([p["entropy"] for p in parts]) if totals["kl_known"] else None,
    )


def _one_episode_each(rollout: Rollout, actor: Actor, totals: dict[str, Any]) -> dict[str, Any]:
    """Step until every env finished its first episode; per-step sums go into ``totals``."""
    n = rollout.num_envs
    live = np.ones(n, dtype=bool)
    returns, domain, length = np.zeros(n), np.zeros(n), np.zeros(n, dtype=np.int64)
    prior_ll, policy_ll, kl, entropy = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    finals: list[dict[str, Any] | None] = [None] * n
    while live.any():
        step = rollout.step(actor)
        totals["log_p"] += float(step.parts.prior_log_prob[live].sum())
        totals["steps"] += int(live.sum())
        if step.kl is None:
            totals["kl_known"] = False
        else:
            step_kl = step.kl.cpu().double().numpy()
            step_entropy = step.entropy.cpu().double().numpy()  # type: ignore[union-attr]
            totals["kl"] += float(step_kl[live].sum())
            totals["entropy"] += float(step_entropy[live].sum())
            kl += np.where(live, step_kl, 0.0)
            entropy += np.where(live, step_entropy, 0.0)
        prior_ll += np.where(live, step.parts.prior_log_prob, 0.0)
        if step.log_pi is not None:
            taken = step.log_pi.gather(1, th.as_tensor(step.actions, dtype=th.long).view(-1, 1)).squeeze(1)
            policy_ll += np.where(live, taken.cpu().double().numpy(), 0.0)
        returns += np.where(live, step.rewards, 0.0)
        domain += np.where(live, step.parts.domain_reward, 0.0)
        length += live
        for i, info in step.finals.items():
            if live[i]:
                finals[i] = info
        live &= ~step.dones
    return {
        "finals": finals,
        "returns": returns,
        "lengths": length,
        "domain_returns": domain,
        "prior_ll": prior_ll,
        "policy_ll": policy_ll,
        "kl": kl,
        "entropy": entropy,
    }


def _stack_finals(rows: list[dict[str, Any] | None]) -> dict[str, Any]:
    """Per-episode episode-end infos as columns: arrays where they stack, lists of strings otherwise."""
    keys = list(dict.fromkeys(key for row in rows if row for key in row))
    out: dict[str, Any] = {}
    for key in keys:
        values = [row.get(key) if row else None for row in rows]
        try:
            out[key] = list(values) if isinstance(values[0], str) else np.array(values)
        except ValueError:
            out[key] = values
    return out


# ---------------------------------------------------------------------- jobs behind the CLI
def episodes_of(
    model: BaseAlgorithm | None,
    env_id: str,
    n: int,
    seed: int,
    env_kwargs: dict[str, Any],
    progress: bool = True,
    on_batch: Callable[[int], None] | None = None,
) -> EpisodeBatch:
    """``n`` episodes of a model (or of the env's prior, when ``model`` is None)."""
    act = prior_policy(seed=seed) if model is None else model_policy(model, seed=seed)
    return run_episodes(env_id, n, act, seed=seed, env_kwargs=env_kwargs, progress=progress, on_batch=on_batch)


def write_samples(batch: EpisodeBatch, env_id: str, out: Path, label: str) -> dict[str, Any]:
    """Write a batch's samples as its domain does (MIDI + WAV + piano roll, a .smi file and a molecule grid, ...)."""
    out.mkdir(parents=True, exist_ok=True)
    written = get_domain(env_id).write_samples(batch.finals, batch.domain_returns, out, label)
    table = atomic_write_text(out / "samples.csv", csv_text(batch.rows(env_id)))  # formula-like cells escaped
    return {"label": label, "env_id": env_id, **written, "table": str(table)}


def _summary(batch: EpisodeBatch) -> dict[str, Any]:
    return {
        "episodes": len(batch.returns),
        "mean_return": float(batch.returns.mean()),
        "mean_domain_return": float(batch.domain_returns.mean()),
        "prior_log_prob_per_step": batch.prior_log_prob_per_step,
        "kl_per_step": batch.kl_per_step,
        "entropy_per_step": batch.entropy_per_step,
    }


def prior_training_data(env_id: str, env_kwargs: dict[str, Any] | None = None) -> Path | None:
    """The file the env's prior was trained on, when its domain can name it and it is at hand."""
    domain = get_domain(env_id)
    if domain.training_data is None:
        return None
    env = gym.make(env_id, **(env_kwargs or {}))
    prior_path = cast("SequenceEnv", env.unwrapped).prior_path  # a seqtutor env id (it has a domain): a SequenceEnv
    env.close()
    _, metadata = LSTMPrior.load(prior_path)
    return domain.training_data(metadata)


def evaluation_report(
    batch: EpisodeBatch, env_id: str, label: str, prior: EpisodeBatch | None = None, reference: Path | None = None
) -> tuple[dict[str, Any], str]:
    """``(result dict, markdown)`` of a batch beside the prior's (when given): the domain objective,
    KL and log p per step, then the domain's own tables (:attr:`seqtutor_envs.domains.Domain.report`).

    :param reference: the prior's training data (:func:`prior_training_data`): the domain compares the
        samples with it (melody: the corpus column and texture distances; SMILES: novelty).
    """
    domain = get_domain(env_id)
    extra = {"reference": reference} if reference is not None else {}
    batches = {label: batch, **({"prior": prior} if prior is not None else {})}
    result: dict[str, Any] = {"label": label, "env_id": env_id, **_summary(batch)}
    if prior is not None:
        result["prior"] = _summary(prior)
    lines = ["| | " + " | ".join(batches) + " |", "|---|" + "---:|" * len(batches)]
    for key, name, fmt in (
        ("mean_domain_return", "domain objective (mean per episode)", "{:.3f}"),
        ("kl_per_step", "KL(π ‖ prior) per step", "{:.4f}"),
        ("entropy_per_step", "entropy per step", "{:.3f}"),
        ("prior_log_prob_per_step", "log p_prior per step", "{:.3f}"),
    ):
        cells = [_summary(b)[key] for b in batches.values()]
        lines.append(f"| {name} | " + " | ".join("n/a" if v is None else fmt.format(v) for v in cells) + " |")
    table = "\n".join(lines) + "\n\n" + domain.report({name: b.finals for name, b in batches.items()}, **extra)
    result["statistics"] = domain.statistics(batch.finals, **extra)
    result["reference"] = str(reference) if reference is not None else None
    return result, table + "\n"
