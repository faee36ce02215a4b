"""Distributional policy gradient toward π* ∝ p(x)^w exp(R(x)/c) (Khalifa et al. 2021; Korbak et al. 2022).

Where the other learners *maximise* the KL-regularised return, DPG *matches* its optimum
π*(x) = p(x)^w exp(R(x)/c) / Z by minimising the forward KL(π* ‖ π_θ), whose gradient is an
importance-weighted maximum likelihood::

    ∇ KL(π* ‖ π_θ) = − E_{x ~ q} [ π*(x) / q(x) · ∇ log π_θ(x) ]

over whole sequences ``x`` drawn from a proposal ``q``. Per batch of ``B`` episodes the weights are
self-normalised (``Z`` is unknown): ``ŵ_i = softmax_i(log P(x_i) − log q(x_i))`` with
``log P = w log p(x) + R(x)/c`` (:func:`~seqtutor_envs.reward.compose` at sequence level), and
GDC++'s baseline ``Z π_θ(x)/q(x)``, self-normalised the same way, is subtracted::

    loss = − Σ_i (ŵ_i − softmax_i(log π_θ(x_i) − log q(x_i))) · log π_θ(x_i)

(for ``q = π_θ`` the baseline is ``1/B``). Two options trade the estimator's variance for speed:

* ``temper`` α ∈ (0, 1] takes both softmaxes at α times their log-ratios, ``softmax_i(α(log P − log q))``
  and ``softmax_i(α(log π_θ − log q))``. With 3 nats of KL per 32-step melody the weights of 64
  sequences rest on a handful of them (ESS ~ 5); tempered, on more. The bias: each step moves π_θ toward
  ``q^(1−α) π*^α`` (a geometric mixture of the proposal and the target) rather than toward π*, so steps
  are shorter -- but the two terms cancel exactly when π_θ ∝ P, so the fixed point is still π* for any
  proposal with full support (and at α = 1 this is DPG). The melody domain's defaults take α = 0.5
  with lr 1e-3 (``benchmarks/results/melody_dpg_ablation.md``); molecules keep α = 1.
* ``n_epochs`` gradient steps on each batch (the proposal's log-probabilities are the ones that drew
  it, so the weights stay correct as π_θ moves; only the baseline is recomputed).

The proposal is the policy itself (``proposal="policy"``,
on-policy), or a frozen copy of it (``"frozen"``) replaced whenever the policy is estimated closer
to π* -- ``Σ ŵ_i (log q(x_i) − log π_θ(x_i)) > 0``, i.e. KL(π* ‖ π_θ) < KL(π* ‖ q) -- as in
Khalifa et al.'s off-policy DPG. ``c`` is fixed or adapted toward ``target_kl`` (exact
KL(π_θ ‖ prior) per step of the batch's states) by the shared
:class:`~seqtutor_agents.common.kl.KLCoefficient`, so π* moves with it.

Off-policy sequences whose proposal density is unknown -- a replay memory of the best molecules,
graph-GA offspring (``replay_memory``, ``genetic``) -- enter through a second term on the set S of
those distinct sequences, :func:`conditional_dpg_weights`: the gradient of KL(π*_S ‖ π_θ,S) between
π* and π_θ conditioned on S, which π* minimises too. ``augment`` adds steps of that term on
randomised SMILES of S.
"""

from __future__ import annotations

import copy
from typing import Any

import torch as th

from seqtutor_envs.sampling import DEFAULT_RANK_COEFFICIENT

from ..common.episodes import Episode, Episodes
from ..common.kl import kl_and_entropy
from ..common.memory import ReplayMemoryMixin
from ..common.offpolicy import MoleculeExtrasMixin
from ..common.validation import check_choice, check_number
from .base import EpisodicPolicyGradient

PROPOSALS = ("policy", "frozen")


def dpg_weights(
    log_target: th.Tensor, log_proposal: th.Tensor, log_policy: th.Tensor, temper: float = 1.0
) -> th.Tensor:
    """Per-sequence weights of DPG's loss ``−Σ_i weight_i log π_θ(x_i)`` (no gradient flows through them).

    ``softmax(α(log P − log q)) − softmax(α(log π_θ − log q))``: the self-normalised importance weights
    of π* against the proposal, less GDC++'s baseline (``1/B`` when the proposal is the policy), tempered
    by ``α`` (1: DPG's; see the module docstring for the bias).

    :param log_target: ``(B,)`` ``log P(x) = w log p(x) + R(x)/c``, π*'s unnormalised log-probability.
    :param log_proposal: ``(B,)`` ``log q(x)`` of the policy that drew the sequences.
    :param log_policy: ``(B,)`` ``log π_θ(x)``.
    :param temper: α in (0, 1].
    """
    with th.no_grad():
        return th.softmax(temper * (log_target - log_proposal), dim=0) - th.softmax(
            temper * (log_policy - log_proposal), dim=0
        )


class DPG(ReplayMemoryMixin, MoleculeExtrasMixin, EpisodicPolicyGradient):
    """Distribution matching toward the KL-regularised optimum (see the module docstring).

    :param policy: ``"PriorLSTMPolicy"``.
    :param env: a seqtutor env or SB3 VecEnv of one.
    :param learning_rate: Adam step size.
    :param proposal: ``"policy"`` (sample from π_θ) or ``"frozen"`` (a copy, replaced when π_θ is closer to π*).
    :param temper: α in (0, 1] of the tempered importance weights (1: DPG's; see the module docstring).
    :param n_epochs: gradient steps on each batch.
    :param max_grad_norm: gradient clipping norm.
    :param replay_memory: capacity of a top-k memory of the best distinct sequences (0: none). With it
        (or with ``genetic``) each update adds the off-policy term of :func:`conditional_dpg_weights`
        on a replayed set -- its draw from the memory and the round's GA offspring.
    :param replay_sample: remembered sequences per update (distinct, drawn without replacement).
    :param replay_sampling: ``"uniform"`` (default), ``"score"`` or ``"rank"``.
    :param rank_coefficient: ``k`` of rank-based sampling.
    :param genetic: graph-GA exploration (SMILES env; None: off), see :mod:`seqtutor_agents.common.offpolicy`.
    :param augment: extra steps per update, each the off-policy term on randomised SMILES of the replayed set.
    :param kwargs: see :class:`~seqtutor_agents.policy_gradient.base.EpisodicPolicyGradient`: ``batch_size``
        (sequences per update), ``c`` (None: the env's; the controller's start with ``target_kl``),
        ``target_kl`` (adapt c so that the exact KL(π ‖ prior) per step tracks this; None: fixed c),
        ``kl_horizon``, ``policy_kwargs``, ``seed``, ``device``, ...
    """

    def __init__(
        self,
        policy: Any = "PriorLSTMPolicy",
        env: Any = None,
        learning_rate: Any = 5e-4,
        proposal: str = "policy",
        temper: float = 1.0,
        n_epochs: int = 1,
        max_grad_norm: float | None = 1.0,
        replay_memory: int = 0,
        replay_sample: int = 0,
        replay_sampling: str = "uniform",
        rank_coefficient: float = DEFAULT_RANK_COEFFICIENT,
        genetic: Any = None,
        augment: int = 0,
        **kwargs: Any,
    ) -> None:
        self.proposal = check_choice("proposal", proposal, PROPOSALS)
        self.temper = float(check_number("temper", temper, low=0.0, low_open=True, high=1.0))
        self.n_epochs = int(check_number("n_epochs", n_epochs, low=1, integer=True))
        self._init_replay_memory(replay_memory, replay_sample, replay_sampling, rank_coefficient, distinct=True)
        self._proposal_net: Any = None
        self._init_molecule_extras(genetic, augment)
        super().__init__(policy, env, learning_rate, max_grad_norm=max_grad_norm, **kwargs)

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_proposal_net"]

    # ------------------------------------------------------------------ acting with the proposal
    def act(self, obs: dict[str, th.Tensor], state: Any) -> tuple[th.Tensor, th.Tensor, Any]:
        if self.proposal == "policy":
            return super().act(obs, state)
        if self._proposal_net is None:
            self._proposal_net = copy.deepcopy(self.policy).requires_grad_(False)
        log_pi, state_after = self._proposal_net.recurrent_log_probs(obs, state)
        return th.multinomial(log_pi.exp(), 1).squeeze(1), log_pi, state_after

    # ------------------------------------------------------------------ the update
    def train(self, episodes: list[Episode]) -> None:
        offspring = self._explore(episodes)
        self._purge(self.memory)
        replayed = self._replayed_set(offspring)
        self.remember(episodes + offspring)
        batch = Episodes.stack(episodes, self.device)
        assert batch.behaviour_log_prob is not None, "the collector records the proposal's log-probabilities"
        mask = batch.mask
        seq_log_q = (batch.behaviour_log_prob * mask).sum(dim=1)
        log_target = self.log_target(batch)
        for epoch in range(self.n_epochs):
            log_pi, seq_log_pi = self.sequence_log_probs(batch)
            if epoch == 0:  # what the batch says about the policy that drew it
                with th.no_grad():
                    importance = th.softmax(log_target - seq_log_q, dim=0)
                    closer = float((importance * (seq_log_q - seq_log_pi)).sum())  # KL(π*‖q) − KL(π*‖π_θ), estimated
                    kl, entropy = kl_and_entropy(log_pi, batch.prior_log_probs[:, :-1])
                    steps = mask.sum()
                    kl_per_step = float((kl * mask).sum() / steps)
                    ess = float(1.0 / (importance**2).sum())
            loss = -(dpg_weights(log_target, seq_log_q, seq_log_pi, self.temper) * seq_log_pi).sum()
            if replayed:
                loss = loss + self.conditional_loss(replayed)
            self._gradient_step(loss)
        for _ in range(self.augment if replayed else 0):  # Augmented Memory's extra steps, on the set re-written
            assert self.molecules is not None  # augment > 0 made it (_bind_molecules)
            rewritten = self.molecules.rewrite(replayed)
            if len(rewritten) > 1:
                self._gradient_step(self.conditional_loss(rewritten))
        self._adapt_c(kl_per_step, int(steps))
        if self.proposal == "frozen" and (self._proposal_net is None or closer > 0):
            self._proposal_net = copy.deepcopy(self.policy).requires_grad_(False)
            self.logger.record("train/proposal_updates", 1)
        self.logger.record("train/loss", loss.item())
        self.logger.record("train/ess", ess)
        self.logger.record("train/kl_prior", kl_per_step)
        self.logger.record("train/entropy", float((entropy * mask).sum() / steps))
        self.logger.record("train/c", self.current_c)
        self.logger.record("train/score", batch.domain_return().mean().item())
        if self.molecules is not None:
            self.molecules.record(self.logger)

    def _replayed_set(self, offspring: list[Episode]) -> list[Episode]:
        """The off-policy set of this update: a draw of distinct remembered episodes and the GA's children."""
        drawn = self.replay(self.replay_sample)
        seen, out = set(), []
        for episode in offspring + drawn:  # distinct sequences: the conditional distributions are over a set
            key = episode.tokens.tobytes()
            if key not in seen:
                seen.add(key)
                out.append(episode)
        return out

    def conditional_loss(self, episodes: list[Episode]) -> th.Tensor:
        """DPG's loss on a set S of distinct sequences drawn by any means: ``−Σ_S w_i log π_θ(x_i)`` with
        :func:`conditional_dpg_weights` (π* and π_θ both restricted to S)."""
        batch = Episodes.stack(episodes, self.device)
        _, seq_log_pi = self.sequence_log_probs(batch)
        return -(conditional_dpg_weights(self.log_target(batch), seq_log_pi) * seq_log_pi).sum()


def conditional_dpg_weights(log_target: th.Tensor, log_policy: th.Tensor) -> th.Tensor:
    """Weights of DPG's loss on a set S of distinct sequences of unknown proposal (replay, GA offspring).

    ``softmax_S(log P) − softmax_S(log π_θ)``: :func:`dpg_weights` with a uniform proposal on S. The
    loss ``−Σ_S weight_i log π_θ(x_i)`` is then exactly the gradient of KL(π*_S ‖ π_θ,S), the forward
    KL between π* and π_θ both conditioned on S (``π_S(x) = π(x) / π(S)``): it moves π_θ's odds between
    the sequences of S to π*'s, whatever drew them, and π* minimises it for every S.

    :param log_target: ``(B,)`` ``log P(x) = w log p(x) + R(x)/c``.
    :param log_policy: ``(B,)`` ``log π_θ(x)``.
    """
    return dpg_weights(log_target, th.zeros_like(log_target), log_policy)
