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

import itertools
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.vec_env import VecEnv

from seqtutor_envs.prior import LSTMPrior, PriorConfig, load_checkpoint

LSTMState = tuple[th.Tensor, th.Tensor]

#: Observation keys every seqtutor env provides (see :mod:`seqtutor_envs.core`).
OBSERVATION_KEYS = frozenset({"tokens", "step", "prior_log_probs"})
#: Time segments of :func:`unroll_episodes` (more cut more padding, each costs one more LSTM call).
UNROLL_SEGMENTS = 6


def last_tokens(tokens: th.Tensor, steps: th.Tensor) -> th.Tensor:
    """The token each observation's sequence ends with (the primer at step 0)."""
    return tokens.gather(1, steps.reshape(-1, 1).long()).squeeze(1).long()


def reset_state(state: LSTMState, episode_start: th.Tensor | None) -> LSTMState:
    """Zero the LSTM state of the envs whose episode starts (``episode_start`` bool, one per env)."""
    if episode_start is None or not bool(episode_start.any()):
        return state
    keep = (~episode_start.to(device=state[0].device, dtype=th.bool)).to(state[0].dtype).reshape(1, -1, 1)
    return state[0] * keep, state[1] * keep


def unroll_plan(
    lengths: np.ndarray, max_segments: int = UNROLL_SEGMENTS
) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """How :func:`unroll_episodes` cuts a padded batch: the rows longest first, and time segments.

    Segment ``[start, end)`` runs only the rows still going at ``start`` (the first ``rows`` of
    the order). Its bounds are quantiles of the lengths, so a batch of varied lengths (molecules)
    runs ~20 % fewer LSTM steps than its padded rectangle; one of equal lengths (melodies) is one
    segment.

    :param lengths: ``(B,)`` steps needed per row (>= 1).
    :param max_segments: at most this many segments.
    :return: the row order (longest first, ties in row order) and ``(start, end, rows)`` per segment.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")
    width = int(lengths.max())
    cuts = np.quantile(lengths, np.linspace(0.0, 1.0, max_segments + 1)[:-1]).astype(np.int64)
    bounds = [*sorted({0, *(int(c) for c in cuts if 0 < c < width)}), width]
    segments = [(start, end, int((lengths > start).sum())) for start, end in itertools.pairwise(bounds)]
    return order, segments


def unroll_episodes(
    net: LSTMPrior, inputs: th.Tensor, lengths: np.ndarray, max_segments: int = UNROLL_SEGMENTS
) -> th.Tensor:
    """The network's outputs ``(B, W, V)`` at the first ``lengths[i]`` positions of each row of ``inputs``.

    The same values as ``net(inputs)[0]`` there (an LSTM is sequential: a row's outputs depend on its
    own prefix only), from fewer LSTM steps (:func:`unroll_plan`): segment by segment, the rows still
    going continue from their state. Positions past a row's length hold values of no meaning (zeros,
    or steps on the padding within a segment): mask them. Gradients flow as through one call.

    :param inputs: ``(B, W)`` input tokens, ``W >= max(lengths)``.
    :param lengths: ``(B,)`` positions needed per row.
    """
    order, segments = unroll_plan(lengths, max_segments)
    batch, width = inputs.shape[0], int(segments[-1][1])
    if len(segments) == 1:
        return net(inputs[:, :width])[0]
    order_t = th.as_tensor(order, device=inputs.device)
    sorted_inputs = inputs[order_t]
    pieces, state = [], None
    for start, end, rows in segments:
        if state is not None:
            state = (state[0][:, :rows].contiguous(), state[1][:, :rows].contiguous())
        out, state = net(sorted_inputs[:rows, start:end], state)
        pieces.append(th.nn.functional.pad(out, (0, 0, 0, 0, 0, batch - rows)) if rows < batch else out)
    outputs = th.cat(pieces, dim=1)
    inverse = th.empty_like(order_t)
    inverse[order_t] = th.arange(batch, device=inputs.device)
    return outputs[inverse]


def _env_prior_path(env: VecEnv) -> str:
    try:
        return str(env.get_attr("prior_path")[0])
    except AttributeError:
        raise ValueError("this env has no 'prior_path': is it a seqtutor env (make_sb3_vec_env)?") from None


def prior_architecture(model: Any) -> None:
    """First ``_setup_model`` step of every seqtutor learner: check that the env is a seqtutor env,
    remember its prior's file (``model.prior_path``) and default the policy's ``net_config`` to the
    prior's architecture, read from the file without building a network (so no random draw).
    """
    space = model.observation_space
    if not isinstance(space, spaces.Dict) or not set(space.spaces) >= OBSERVATION_KEYS:
        raise ValueError(
            f"{type(model).__name__} needs a seqtutor environment (Dict observation with 'tokens', 'step', "
            f"'prior_log_probs'), got observation space {space}"
        )
    net_config = None
    if model.env is not None:
        model.prior_path = _env_prior_path(model.env)
        net_config = dict(load_checkpoint(model.prior_path)["config"])
    model.policy_kwargs.setdefault("net_config", net_config)


def load_env_prior(model: Any) -> LSTMPrior | None:
    """The prior of the model's env, whose weights a learner starts from (None when the model has no env)."""
    return LSTMPrior.load(_env_prior_path(model.env))[0] if model.env is not None else None


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


class RecurrentTokenPolicy(BasePolicy):
    """Base of the seqtutor policies: one prior-shaped LSTM (``self.net``) read one token per step.

    Subclasses say how the network's outputs become the acting policy's logits
    (:meth:`logits_from_outputs`: Q-values for Sequence Tutor, logits as they are for
    policy-gradient learners). Everything else is shared: carried-state steps, the
    ``recurrent_log_probs`` interface evaluation uses, and SB3/sb3-contrib-style ``predict``
    (with ``state=None`` each observation's token prefix is unrolled, so any Markov observation
    works; passing the returned state back runs one LSTM step per call).
    """

    net: LSTMPrior
    # What __init__ accepts (BasePolicy types them as any Space).
    observation_space: spaces.Dict
    action_space: spaces.Discrete

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, **kwargs: Any) -> None:
        if not isinstance(action_space, spaces.Discrete):
            raise ValueError(f"{type(self).__name__} needs a Discrete action space, got {action_space}")
        if not isinstance(observation_space, spaces.Dict) or not set(observation_space.spaces) >= OBSERVATION_KEYS:
            raise ValueError(
                f"{type(self).__name__} needs a seqtutor Dict observation with 'tokens', 'step' and 'prior_log_probs', "
                f"got {observation_space}"
            )
        super().__init__(observation_space, action_space, **kwargs)

    def build_network(self, net_config: dict[str, Any] | None) -> tuple[dict[str, Any], LSTMPrior]:
        """``(net_config, network)`` of the prior's architecture, checked against the action space."""
        net_config = dict(net_config) if net_config is not None else {"num_outputs": int(self.action_space.n)}
        net = make_prior_network(net_config)
        if net.config.num_outputs != self.action_space.n:
            raise ValueError(
                f"the network outputs {net.config.num_outputs} values but the action space is "
                f"Discrete({self.action_space.n})"
            )
        return net_config, net

    def logits_from_outputs(self, outputs: th.Tensor, prior_log_probs: th.Tensor) -> th.Tensor:
        """The acting policy's logits from the network's outputs at a state."""
        raise NotImplementedError

    def select_actions(self, logits: th.Tensor, deterministic: bool, explore: bool = False) -> th.Tensor:
        """Greedy or sampled actions from policy logits."""
        if deterministic:
            return logits.argmax(dim=1)
        return th.multinomial(th.softmax(logits, dim=1), 1).squeeze(1)

    def initial_state(self, n_envs: int) -> LSTMState:
        return self.net.initial_state(n_envs)

    def step_outputs(
        self, obs: dict[str, th.Tensor], state: LSTMState, episode_start: th.Tensor | None = None
    ) -> tuple[th.Tensor, LSTMState]:
        """One recurrent step: the network's outputs at the observations' states and the new LSTM state."""
        state = reset_state(state, episode_start)
        tokens = last_tokens(obs["tokens"], obs["step"])
        outputs, state = self.net(tokens.reshape(-1, 1), state)
        return outputs[:, 0], state

    def recurrent_log_probs(
        self, obs: dict[str, th.Tensor], state: LSTMState, episode_start: th.Tensor | None = None
    ) -> tuple[th.Tensor, LSTMState]:
        """The acting policy's log-probabilities ``(n, V)`` at the observations' states, and the new state."""
        outputs, state = self.step_outputs(obs, state, episode_start)
        logits = self.logits_from_outputs(outputs, obs["prior_log_probs"].float())
        return th.log_softmax(logits, dim=-1), state

    def _unroll_prefixes(self, obs: dict[str, th.Tensor]) -> tuple[th.Tensor, LSTMState]:
        """Outputs and LSTM state after each observation's own token prefix, one batch per prefix length."""
        tokens, steps = obs["tokens"].long(), obs["step"].long().reshape(-1)
        n = steps.shape[0]
        outputs = th.empty((n, int(self.action_space.n)), device=tokens.device)
        h, c = self.initial_state(n)
        for length in th.unique(steps).tolist():
            rows = (steps == length).nonzero().squeeze(1)
            out_prefix, (h_len, c_len) = self.net(tokens[rows, : length + 1])
            outputs[rows] = out_prefix[:, -1]
            h[:, rows], c[:, rows] = h_len, c_len
        return outputs, (h, c)

    def forward(self, obs: dict[str, th.Tensor], deterministic: bool = False) -> th.Tensor:
        return self._predict(obs, deterministic=deterministic)

    def _predict(self, observation: dict[str, th.Tensor], deterministic: bool = False) -> th.Tensor:  # type: ignore[override]  # SB3's takes any PyTorchObs; ours a Dict
        outputs, _ = self._unroll_prefixes(observation)
        return self.select_actions(
            self.logits_from_outputs(outputs, observation["prior_log_probs"].float()), deterministic
        )

    def predict(  # type: ignore[override]  # sb3-contrib's recurrent signature (state as a tuple of arrays)
        self,
        observation: dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """Actions and next LSTM state, as sb3-contrib's recurrent policies."""
        self.set_training_mode(False)
        obs_tensor, vectorized = self.obs_to_tensor(observation)
        assert isinstance(obs_tensor, dict)  # observation_space is a Dict, so SB3 gives a dict of tensors
        with th.no_grad():
            if state is None:
                outputs, new_state = self._unroll_prefixes(obs_tensor)
            else:
                h, c = (th.as_tensor(s, dtype=th.float32, device=self.device) for s in state)  # an LSTM state: (h, c)
                lstm_state = (h, c)
                starts = None if episode_start is None else th.as_tensor(np.asarray(episode_start), device=self.device)
                outputs, new_state = self.step_outputs(obs_tensor, lstm_state, starts)
            logits = self.logits_from_outputs(outputs, obs_tensor["prior_log_probs"].float())
            actions = self.select_actions(logits, deterministic).cpu().numpy()
        if not vectorized:
            actions = actions.squeeze(0)
        return actions, (new_state[0].cpu().numpy(), new_state[1].cpu().numpy())
