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

import torch as th
from gymnasium import spaces
from stable_baselines3.common.type_aliases import Schedule

from seqtutor_envs.prior import LSTMPrior

from ..common.recipes import allow_class
from ..common.recurrent import (
    LSTMState,
    RecurrentTokenPolicy,
    make_prior_network,
)

ACTING_MODES = ("q", "psi", "g")
EXPLORATION_MODES = ("boltzmann", "egreedy")


class RecurrentQPolicy(RecurrentTokenPolicy):
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
        if acting not in ACTING_MODES:
            raise ValueError(f"acting must be one of {ACTING_MODES}, got {acting!r}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        super().__init__(
            observation_space, action_space, optimizer_class=optimizer_class, optimizer_kwargs=optimizer_kwargs
        )
        net_config, self.q_net = self.build_network(net_config)
        self.q_net_target = make_prior_network(net_config)
        self.q_net_target.load_state_dict(self.q_net.state_dict())
        self.q_net_target.requires_grad_(False)
        self.net_config = net_config
        self.acting = acting
        self.temperature = float(temperature)
        self.exploration = "boltzmann"
        self.epsilon = 0.0
        # SB3 types optimizer_class as the base Optimizer, whose __init__ takes no lr
        self.optimizer = self.optimizer_class(self.q_net.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)  # type: ignore[call-arg]  # SB3 types it the base Optimizer, whose __init__ takes no lr

    # ------------------------------------------------------------------ networks
    def load_prior_weights(self, prior) -> None:
        """Start Q-network and target network from the prior's weights (paper, §3)."""
        self.q_net.load_state_dict(make_prior_network(self.net_config, prior).state_dict())
        self.q_net_target.load_state_dict(self.q_net.state_dict())

    def zero_heads(self) -> None:
        """Zero the output layer of the Q-network and its target: G ≡ 0 makes G-learning's policy the prior."""
        with th.no_grad():
            for net in (self.q_net, self.q_net_target):
                net.head.weight.zero_()
                net.head.bias.zero_()

    # The network RecurrentTokenPolicy steps: the online Q-network. A read-only alias, where the base declares an
    # attribute: assigning it would make nn.Module register the Q-network twice (its state dict changes).
    @property
    def net(self) -> LSTMPrior:  # type: ignore[override]
        return self.q_net

    def policy_logits(self, q_values: th.Tensor, prior_log_probs: th.Tensor) -> th.Tensor:
        """Logits of the acting policy, temperature applied."""
        logits = q_values + prior_log_probs if self.acting == "g" else q_values
        return logits / self.temperature

    def logits_from_outputs(self, outputs: th.Tensor, prior_log_probs: th.Tensor) -> th.Tensor:
        """:meth:`policy_logits`: the network's outputs are the Q-values."""
        return self.policy_logits(outputs, prior_log_probs)

    def step_q(
        self, obs: dict[str, th.Tensor], state: LSTMState, episode_start: th.Tensor | None = None
    ) -> tuple[th.Tensor, LSTMState]:
        """One recurrent step: Q-values at the observations' states and the new LSTM state."""
        return self.step_outputs(obs, state, episode_start)

    def select_actions(self, logits: th.Tensor, deterministic: bool, explore: bool = False) -> th.Tensor:
        """Greedy, sampled (Boltzmann) or epsilon-greedy actions from policy logits."""
        if explore and not deterministic and self.exploration == "egreedy":
            greedy = logits.argmax(dim=1)
            random = th.randint(0, logits.shape[1], greedy.shape, device=logits.device)
            take_random = th.rand(greedy.shape, device=logits.device) < self.epsilon
            return th.where(take_random, random, greedy)
        return super().select_actions(logits, deterministic)

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


# Model files may name these classes (seqtutor_agents.common.recipes' allow-list).
allow_class("policy", RecurrentQPolicy)
