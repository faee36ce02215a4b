"""Recurrent Q-network policy shared by the paper's three learners.

The Q-network is an :class:`~seqtutor_envs.prior.LSTMPrior` of the prior's architecture whose
output head gives action values instead of logits; it starts from the prior's weights (the paper
initialises the Q-network, the target network and the reward RNN from the same Note RNN).

The acting policy depends on the learner (``acting``):

* ``"q"`` and ``"psi"``: ``pi(a|s) = softmax(Q(s, .) / T)``;
* ``"g"``: ``pi(a|s) ∝ p(a|s) exp(G(s, a))``, i.e. ``softmax((G + log p) / T)`` with ``log p``
  read from the observation's ``prior_log_probs``.

Exploration is ``"boltzmann"`` (sample from that policy; for Ψ and G at T = 1 it *is* the learnt
policy) or ``"egreedy"`` (greedy action, uniform with probability epsilon).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule

from ..common.recurrent import OBSERVATION_KEYS, LSTMState, last_tokens, make_prior_network, reset_state

ACTING_MODES = ("q", "psi", "g")
EXPLORATION_MODES = ("boltzmann", "egreedy")


class RecurrentQPolicy(BasePolicy):
    """LSTM Q-network (+ target network) over token sequences.

    :param observation_space: the env's ``Dict`` observation space (``tokens``, ``step``, ``prior_log_probs``).
    :param action_space: ``Discrete(num_actions)``.
    :param lr_schedule: learning-rate schedule for the Adam optimiser.
    :param net_config: the Q-network architecture, a :class:`~seqtutor_envs.prior.PriorConfig` as a
        dict (the prior's own).
    :param acting: ``"q"``, ``"psi"`` or ``"g"`` -- how Q-values become a policy.
    :param temperature: Boltzmann temperature (1 = the paper's policies).
    :param optimizer_kwargs: extra Adam arguments.
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        action_space: spaces.Discrete,
        lr_schedule: Schedule,
        net_config: dict[str, Any] | None = None,
        acting: str = "q",
        temperature: float = 1.0,
        optimizer_class: type[th.optim.Optimizer] = th.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(action_space, spaces.Discrete):
            raise ValueError(f"RecurrentQPolicy needs a Discrete action space, got {action_space}")
        if not isinstance(observation_space, spaces.Dict) or not OBSERVATION_KEYS <= set(observation_space.spaces):
            raise ValueError(
                "RecurrentQPolicy needs a seqtutor Dict observation with 'tokens', 'step' and 'prior_log_probs', "
                f"got {observation_space}"
            )
        if acting not in ACTING_MODES:
            raise ValueError(f"acting must be one of {ACTING_MODES}, got {acting!r}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        super().__init__(observation_space, action_space, optimizer_class=optimizer_class, optimizer_kwargs=optimizer_kwargs)
        net_config = dict(net_config) if net_config is not None else {"num_outputs": int(action_space.n)}
        self.q_net = make_prior_network(net_config)
        if self.q_net.config.num_outputs != action_space.n:
            raise ValueError(
                f"Q-network outputs {self.q_net.config.num_outputs} values but the action space is Discrete({action_space.n})"
            )
        self.q_net_target = make_prior_network(net_config)
        self.q_net_target.load_state_dict(self.q_net.state_dict())
        self.q_net_target.requires_grad_(False)
        self.net_config = net_config
        self.acting = acting
        self.temperature = float(temperature)
        self.exploration = "boltzmann"
        self.epsilon = 0.0
        self.optimizer = self.optimizer_class(self.q_net.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)

    # ------------------------------------------------------------------ networks
    def load_prior_weights(self, prior) -> None:
        """Start Q-network and target network from the prior's weights (paper, §3)."""
        self.q_net.load_state_dict(make_prior_network(self.net_config, prior).state_dict())
        self.q_net_target.load_state_dict(self.q_net.state_dict())

    def initial_state(self, n_envs: int) -> LSTMState:
        return self.q_net.initial_state(n_envs)

    def policy_logits(self, q_values: th.Tensor, prior_log_probs: th.Tensor) -> th.Tensor:
        """Logits of the acting policy, temperature applied."""
        logits = q_values + prior_log_probs if self.acting == "g" else q_values
        return logits / self.temperature

    def step_q(self, obs: PyTorchObs, state: LSTMState, episode_start: th.Tensor | None = None) -> tuple[th.Tensor, LSTMState]:
        """One recurrent step: Q-values at the observations' states and the new LSTM state."""
        state = reset_state(state, episode_start)
        tokens = last_tokens(obs["tokens"], obs["step"])
        q_values, state = self.q_net(tokens.reshape(-1, 1), state)
        return q_values[:, 0], state

    def recurrent_log_probs(
        self, obs: PyTorchObs, state: LSTMState, episode_start: th.Tensor | None = None
    ) -> tuple[th.Tensor, LSTMState]:
        """The acting policy's log-probabilities ``(n, V)`` at the observations' states, and the new state.

        The recurrent-policy interface every seqtutor learner offers (evaluation uses it).
        """
        q_values, state = self.step_q(obs, state, episode_start)
        logits = self.policy_logits(q_values, obs["prior_log_probs"].float())
        return th.log_softmax(logits, dim=-1), state

    def select_actions(self, logits: th.Tensor, deterministic: bool, explore: bool = False) -> th.Tensor:
        """Greedy, sampled (Boltzmann) or epsilon-greedy actions from policy logits."""
        if deterministic:
            return logits.argmax(dim=1)
        if explore and self.exploration == "egreedy":
            greedy = logits.argmax(dim=1)
            random = th.randint(0, logits.shape[1], greedy.shape, device=logits.device)
            take_random = th.rand(greedy.shape, device=logits.device) < self.epsilon
            return th.where(take_random, random, greedy)
        return th.multinomial(th.softmax(logits, dim=1), 1).squeeze(1)

    # ------------------------------------------------------------------ SB3 API
    def forward(self, obs: PyTorchObs, deterministic: bool = False) -> th.Tensor:  # type: ignore[override]
        return self._predict(obs, deterministic=deterministic)

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> th.Tensor:  # type: ignore[override]
        """Actions for full observations without carried state: each token prefix is unrolled."""
        q_values, _ = self._unroll_prefixes(observation)
        return self.select_actions(self.policy_logits(q_values, observation["prior_log_probs"].float()), deterministic)

    def _unroll_prefixes(self, obs: PyTorchObs) -> tuple[th.Tensor, LSTMState]:
        """Q-values and LSTM state after each observation's own token prefix, one batch per prefix length."""
        tokens, steps = obs["tokens"].long(), obs["step"].long().reshape(-1)
        n = steps.shape[0]
        q_values = th.empty((n, int(self.action_space.n)), device=tokens.device)
        h, c = self.initial_state(n)
        for length in th.unique(steps).tolist():
            rows = (steps == length).nonzero().squeeze(1)
            q_prefix, (h_len, c_len) = self.q_net(tokens[rows, : length + 1])
            q_values[rows] = q_prefix[:, -1]
            h[:, rows], c[:, rows] = h_len, c_len
        return q_values, (h, c)

    def predict(  # type: ignore[override]
        self,
        observation: dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """Actions and next LSTM state, as sb3-contrib's recurrent policies.

        With ``state=None`` the token prefix in each observation is unrolled, so ``predict`` is
        correct for any Markov observation. Passing the returned ``state`` back (with
        ``episode_start`` marking new episodes) runs one LSTM step per call.
        """
        self.set_training_mode(False)
        obs_tensor, vectorized = self.obs_to_tensor(observation)
        with th.no_grad():
            if state is None:
                q_values, new_state = self._unroll_prefixes(obs_tensor)
            else:
                lstm_state = tuple(th.as_tensor(s, dtype=th.float32, device=self.device) for s in state)
                starts = None if episode_start is None else th.as_tensor(np.asarray(episode_start), device=self.device)
                q_values, new_state = self.step_q(obs_tensor, lstm_state, starts)  # type: ignore[arg-type]
            logits = self.policy_logits(q_values, obs_tensor["prior_log_probs"].float())
            actions = self.select_actions(logits, deterministic).cpu().numpy()
        if not vectorized:
            actions = actions.squeeze(0)
        return actions, (new_state[0].cpu().numpy(), new_state[1].cpu().numpy())

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            net_config=self.net_config,
            acting=self.acting,
            temperature=self.temperature,
            optimizer_class=self.optimizer_class,
            optimizer_kwargs=self.optimizer_kwargs,
        )
        return data
