"""Turn trained models into the batched policies :func:`seqtutor_envs.evaluation.run_episodes` plays.

Every policy reports its full action distribution so that KL(pi || prior) is exact:

* our learners: ``softmax(logits / T)`` of the recurrent Q-network (state carried per env);
* PPO / A2C: the categorical distribution of the actor;
* DQN: epsilon-greedy on its Q-values with its final exploration rate, as ``predict`` samples it.
"""

from __future__ import annotations

import numpy as np
import torch as th
from stable_baselines3 import DQN
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.policies import ActorCriticPolicy

from seqtutor_envs.evaluation import ActFn, log_softmax, sample_categorical

from .common.tutor import SequenceTutorAlgorithm


def model_policy(model: BaseAlgorithm, seed: int = 0, deterministic: bool = False) -> ActFn:
    """An :data:`ActFn` sampling from a trained model (greedy if ``deterministic``)."""
    rng = np.random.default_rng(seed)
    th.manual_seed(seed)

    def choose(log_pi: np.ndarray) -> np.ndarray:
        return log_pi.argmax(1) if deterministic else sample_categorical(log_pi, rng)

    if isinstance(model, SequenceTutorAlgorithm):
        policy = model.policy
        policy.set_training_mode(False)
        state: list = [None]

        def act(obs, episode_start):
            obs_t = {k: th.as_tensor(v) for k, v in obs.items()}
            n = len(episode_start)
            if state[0] is None or state[0][0].shape[1] != n:
                state[0] = policy.initial_state(n)
            with th.no_grad():
                q_values, state[0] = policy.step_q(obs_t, state[0], th.as_tensor(episode_start))
                logits = policy.policy_logits(q_values, obs_t["prior_log_probs"].float()) / policy.temperature
            log_pi = log_softmax(logits.numpy().astype(np.float64))
            return choose(log_pi), log_pi

        return act

    if isinstance(model.policy, ActorCriticPolicy):
        policy = model.policy
        policy.set_training_mode(False)

        def act(obs, episode_start):
            obs_t, _ = policy.obs_to_tensor(obs)
            with th.no_grad():
                logits = policy.get_distribution(obs_t).distribution.logits
            log_pi = log_softmax(logits.cpu().numpy().astype(np.float64))
            return choose(log_pi), log_pi

        return act

    if isinstance(model, DQN):
        policy = model.policy
        policy.set_training_mode(False)
        eps = 0.0 if deterministic else float(model.exploration_final_eps)

        def act(obs, episode_start):
            obs_t, _ = policy.obs_to_tensor(obs)
            with th.no_grad():
                q_values = policy.q_net(obs_t).cpu().numpy()
            n_actions = q_values.shape[1]
            pi = np.full(q_values.shape, eps / n_actions)
            pi[np.arange(len(pi)), q_values.argmax(1)] += 1.0 - eps
            log_pi = np.log(np.maximum(pi, 1e-300))
            return sample_categorical(log_pi, rng) if eps > 0 else q_values.argmax(1), log_pi

        return act

    raise TypeError(f"no evaluation policy for {type(model).__name__}")
