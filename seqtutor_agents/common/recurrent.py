"""Recurrent networks started from a seqtutor prior, shared by every learner family.

Every seqtutor learner acts with an LSTM of the prior's own architecture, started from the prior's
weights (Sequence Tutor initialises its Q-network from the Note RNN; REINVENT and KL-PPO start
their policies from the prior). The network reads one token per step -- the last token of the
observation's ``tokens`` at index ``step`` -- and carries its LSTM state per env, exactly as the
prior does inside the env.

Device rule: every tensor here is created on the device of the tensors it is given (or of the
network), so the same code runs on CPU and CUDA.
"""

from __future__ import annotations

from typing import Any

import torch as th
from stable_baselines3.common.vec_env import VecEnv

from seqtutor_envs.prior import LSTMPrior, PriorConfig

LSTMState = tuple[th.Tensor, th.Tensor]

#: Observation keys every seqtutor env provides (see :mod:`seqtutor_envs.core`).
OBSERVATION_KEYS = frozenset({"tokens", "step", "prior_log_probs"})


def last_tokens(tokens: th.Tensor, steps: th.Tensor) -> th.Tensor:
    """The token each observation's sequence ends with (the primer at step 0)."""
    return tokens.gather(1, steps.reshape(-1, 1).long()).squeeze(1).long()


def reset_state(state: LSTMState, episode_start: th.Tensor | None) -> LSTMState:
    """Zero the LSTM state of the envs whose episode starts (``episode_start`` bool, one per env)."""
    if episode_start is None or not bool(episode_start.any()):
        return state
    keep = (~episode_start.to(device=state[0].device, dtype=th.bool)).to(state[0].dtype).reshape(1, -1, 1)
    return state[0] * keep, state[1] * keep


def env_prior(env: VecEnv) -> tuple[LSTMPrior, str]:
    """The prior of a seqtutor env (weights to start from) and the path it was loaded from."""
    try:
        path = env.get_attr("prior_path")[0]
    except AttributeError:
        raise ValueError("this env has no 'prior_path': is it a seqtutor env (make_sb3_vec_env)?") from None
    prior, _ = LSTMPrior.load(path)
    return prior, str(path)


def make_prior_network(net_config: dict[str, Any], prior: LSTMPrior | None = None) -> LSTMPrior:
    """An :class:`LSTMPrior` of ``net_config``'s architecture, with ``prior``'s weights if given.

    :raises ValueError: when ``prior``'s architecture is not ``net_config``'s.
    """
    config = PriorConfig.from_dict(dict(net_config))
    net = LSTMPrior(config)
    if prior is not None:
        if prior.config != config:
            raise ValueError(f"prior architecture {prior.config} differs from the network's {config}")
        net.load_state_dict(prior.state_dict())
    return net


def config_dict(prior: LSTMPrior) -> dict[str, Any]:
    """A prior's architecture as a plain dict (JSON-safe, for policy kwargs)."""
    return dict(prior.config.__dict__)
