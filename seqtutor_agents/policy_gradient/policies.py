"""The prior-initialised recurrent policy of the policy-gradient learners (REINVENT's DAP, KL-PPO).

The actor *is* an :class:`~seqtutor_envs.prior.LSTMPrior` started from the prior's weights: at
initialisation the policy equals the prior exactly (KL 0). KL-PPO adds a critic: a fresh linear
value head on the same LSTM's hidden states (zero-initialised, so V ≡ 0 at first).
"""

from __future__ import annotations

from typing import Any

import torch as th
from gymnasium import spaces
from stable_baselines3.common.type_aliases import Schedule
from torch import nn

from ..common.recipes import allow_class
from ..common.recurrent import (
    RecurrentTokenPolicy,
    make_prior_network,
)


class PriorLSTMPolicy(RecurrentTokenPolicy):
    """LSTM actor over token sequences (the prior's architecture), with an optional value head.

    :param observation_space: the env's ``Dict`` observation space.
    :param action_space: ``Discrete(num_actions)``.
    :param lr_schedule: learning-rate schedule of the Adam optimiser.
    :param net_config: the network architecture, a :class:`~seqtutor_envs.prior.PriorConfig` as a dict.
    :param value_head: add a critic (a linear head on the LSTM's hidden states).
    :param optimizer_kwargs: extra Adam arguments.
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        action_space: spaces.Discrete,
        lr_schedule: Schedule,
        net_config: dict[str, Any] | None = None,
        value_head: bool = False,
        optimizer_class: type[th.optim.Optimizer] = th.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            observation_space, action_space, optimizer_class=optimizer_class, optimizer_kwargs=optimizer_kwargs
        )
        self.net_config, self.net = self.build_network(net_config)
        self.value_head = value_head
        self.value_net = nn.Linear(self.net.config.hidden_size, 1) if value_head else None
        if self.value_net is not None:
            nn.init.zeros_(self.value_net.weight)
            nn.init.zeros_(self.value_net.bias)
        # SB3 types optimizer_class as the base Optimizer, whose __init__ takes no lr
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)  # type: ignore[call-arg]  # SB3 types it the base Optimizer, whose __init__ takes no lr

    def load_prior_weights(self, prior) -> None:
        """Start the actor from the prior's weights: the initial policy is the prior."""
        self.net.load_state_dict(make_prior_network(self.net_config, prior).state_dict())

    def logits_from_outputs(self, outputs: th.Tensor, prior_log_probs: th.Tensor) -> th.Tensor:
        return outputs

    def unroll(self, inputs: th.Tensor) -> tuple[th.Tensor, th.Tensor | None]:
        """Log-probabilities ``(B, T, V)`` and values ``(B, T)`` (None without a critic) at each of the
        ``T`` states of whole episodes ``inputs`` ``(B, T + 1)`` (primer and actions), from the zero state.
        """
        hidden, _ = self.net.hidden_states(inputs[:, :-1])
        log_pi = th.log_softmax(self.net.head(self.net.dropout(hidden)), dim=-1)
        values = self.value_net(hidden).squeeze(-1) if self.value_net is not None else None
        return log_pi, values

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            net_config=self.net_config,
            value_head=self.value_head,
            optimizer_class=self.optimizer_class,
            optimizer_kwargs=self.optimizer_kwargs,
        )
        return data


# Model files may name these classes (seqtutor_agents.common.recipes' allow-list).
allow_class("policy", PriorLSTMPolicy)
