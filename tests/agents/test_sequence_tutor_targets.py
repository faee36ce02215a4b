"""The three learners' TD targets on tiny hand-made episodes, against values worked out by hand."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from seqtutor_agents import GLearning, PriorQLearning, PsiLearning, make_sb3_vec_env
from seqtutor_agents.common.episodes import Episode
from seqtutor_agents.sequence_tutor import (
    EpisodeReplayBuffer,
    TransitionReplayBuffer,
    g_bootstrap,
    psi_bootstrap,
    q_bootstrap,
)
from seqtutor_envs.reward import RewardParts

C, W = 2.0, 0.5  # the env's c and prior weight in these tests


@pytest.fixture(scope="module")
def env():
    return make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=2, seed=0, c=C, prior_weight=W)


def test_bootstrap_values_by_hand():
    next_q = torch.tensor([[1.0, 2.0, 0.0]])
    log_p = torch.log(torch.tensor([[0.5, 0.25, 0.25]]))
    assert q_bootstrap(next_q, log_p).item() == pytest.approx(2.0)  # max
    assert psi_bootstrap(next_q, log_p).item() == pytest.approx(math.log(math.e + math.e**2 + 1))
    # log sum_a p(a) exp G(a) = log(0.5 e + 0.25 e^2 + 0.25)
    assert g_bootstrap(next_q, log_p).item() == pytest.approx(math.log(0.5 * math.e + 0.25 * math.e**2 + 0.25))


def _episode(num_actions: int):
    """An episode of 3 actions (tokens 2, 3, 4 after primer 5) with known domain rewards and prior log-probs."""
    log_p = torch.log_softmax(torch.randn(4, num_actions, generator=torch.Generator().manual_seed(0)), -1).numpy()
    tokens = np.full(33, 38)
    tokens[:4] = [5, 2, 3, 4]
    domain = np.array([1.0, -1.0, 0.5], dtype=np.float32)
    return tokens, domain, log_p


def _buffer_with_one_episode(model) -> EpisodeReplayBuffer:
    buffer = EpisodeReplayBuffer(1000, model.observation_space, model.action_space, device="cpu")
    tokens, domain, log_p = _episode(38)
    taken = log_p[np.arange(3), tokens[1:4]]
    buffer.add_episode(
        Episode(tokens=tokens[:4], prior_log_probs=log_p, prior_log_prob=taken, domain_rewards=domain, prior_weight=W)
    )
    return buffer


@pytest.mark.parametrize("algo", [PriorQLearning, PsiLearning, GLearning])
def test_episode_targets_match_a_hand_computation(env, algo):
    model = algo("RecurrentQPolicy", env, learning_starts=0, gamma=0.5)
    batch = _buffer_with_one_episode(model).td_batch(1, model.q_net, model.q_net_target)
    target = model.td_target(batch)
    assert batch.mask.tolist() == [[1.0, 1.0, 1.0]]
    tokens, domain, log_p = _episode(38)
    tokens_t = torch.as_tensor(tokens[:4])
    with torch.no_grad():
        q_all, _ = model.q_net(tokens_t[None, :3])
        target_all, _ = model.q_net_target(tokens_t[None, :4])
    expected_q = [q_all[0, t, tokens[t + 1]].item() for t in range(3)]
    assert batch.q_taken[0].tolist() == pytest.approx(expected_q, abs=1e-5)
    for t in range(3):
        action_log_p = log_p[t, tokens[t + 1]]
        # The reward is recomposed from its parts: w log p(a|s) + r_domain / c; G keeps the domain part only.
        reward = domain[t] / C + (0.0 if algo is GLearning else W * action_log_p)
        nxt = target_all[0, t + 1]
        if algo is PriorQLearning:
            value = nxt.max().item()
        elif algo is PsiLearning:
            value = torch.logsumexp(nxt, 0).item()
        else:
            value = torch.logsumexp(nxt + torch.as_tensor(log_p[t + 1]), 0).item()
        expected = reward + (0.5 * value if t < 2 else 0.0)  # the last action ends the episode
        assert target[0, t].item() == pytest.approx(expected, abs=1e-5)


def test_a_learner_with_its_own_c_recomposes_the_reward(env):
    model = PsiLearning("RecurrentQPolicy", env, learning_starts=0, gamma=0.0, c=4.0)
    batch = _buffer_with_one_episode(model).td_batch(1, model.q_net, model.q_net_target)
    tokens, domain, log_p = _episode(38)
    expected = [W * log_p[t, tokens[t + 1]] + domain[t] / 4.0 for t in range(3)]  # c = 4, not the env's 2
    assert model.td_target(batch)[0].tolist() == pytest.approx(expected, abs=1e-5)


def test_reward_parts_recompose_the_env_reward():
    parts = RewardParts(
        prior_log_prob=np.array([-1.0, -2.0]),
        domain_reward=np.array([3.0, 0.0]),
        c=np.array([2.0, 2.0]),
        prior_weight=np.array([0.5, 0.5]),
    )
    assert parts.reward().tolist() == pytest.approx([-0.5 + 1.5, -1.0])
    assert parts.reward(c=1.0).tolist() == pytest.approx([-0.5 + 3.0, -1.0])
    infos = [{"prior_log_prob": -1.0, "domain_reward": 3.0, "c": 2.0, "prior_weight": 0.5}]
    assert RewardParts.from_infos(infos).reward().tolist() == pytest.approx([1.0])
    with pytest.raises(KeyError, match="reward part 'c'"):
        RewardParts.from_infos([{"prior_log_prob": -1.0, "domain_reward": 3.0}])


def test_transition_targets_match_the_episode_targets_with_fresh_states(env):
    """With stored states computed by the current weights, both replay modes give one target."""
    model = PsiLearning("RecurrentQPolicy", env, learning_starts=0, gamma=0.5, replay_buffer_class="transition")
    assert isinstance(model.replay_buffer, TransitionReplayBuffer)
    episode_target = model.td_target(_buffer_with_one_episode(model).td_batch(1, model.q_net, model.q_net_target))
    tokens, domain, log_p = _episode(38)
    tokens_t = torch.as_tensor(tokens)
    state = model.policy.initial_state(1)
    states = [state]
    with torch.no_grad():
        for t in range(3):
            _, state = model.q_net(tokens_t[None, t : t + 1], state)
            states.append(state)
    for t in range(3):
        buffer = TransitionReplayBuffer(10, model.observation_space, model.action_space, device="cpu")
        obs = {"tokens": tokens[None], "step": np.array([t]), "prior_log_probs": log_p[t][None]}
        next_obs = {"tokens": tokens[None], "step": np.array([t + 1]), "prior_log_probs": log_p[t + 1][None]}
        parts = RewardParts(np.array([log_p[t, tokens[t + 1]]]), np.array([domain[t]]), np.array([C]), np.array([W]))
        buffer.add_transition(
            SimpleNamespace(
                obs=obs,
                next_obs=next_obs,
                actions=np.array([tokens[t + 1]]),
                parts=parts,
                dones=np.array([t == 2]),
                state_before=states[t],
                state_after=states[t + 1],
            )
        )
        target = model.td_target(buffer.td_batch(1, model.q_net, model.q_net_target))
        assert target.item() == pytest.approx(episode_target[0, t].item(), abs=1e-5)


def test_policies_from_q_values(env):
    q_values = torch.tensor([[0.0, math.log(3.0)]])
    log_p = torch.log(torch.tensor([[0.75, 0.25]]))
    psi = PsiLearning("RecurrentQPolicy", env)
    g = GLearning("RecurrentQPolicy", env)
    assert torch.softmax(psi.policy.policy_logits(q_values, log_p), 1).tolist()[0] == pytest.approx([0.25, 0.75])
    # G: pi ∝ p exp(G) = (0.75 * 1, 0.25 * 3) -> (0.5, 0.5)
    assert torch.softmax(g.policy.policy_logits(q_values, log_p), 1).tolist()[0] == pytest.approx([0.5, 0.5])
    hot = PsiLearning("RecurrentQPolicy", env, temperature=2.0)  # temperature flattens the acting policy
    pi = torch.softmax(hot.policy.policy_logits(q_values, log_p), 1)[0]
    assert (pi[1] / pi[0]).item() == pytest.approx(math.sqrt(3.0))
    greedy = psi.policy.select_actions(torch.tensor([[0.1, 0.9, 0.3]]), deterministic=True)
    assert greedy.tolist() == [1]
    g.policy.exploration, g.policy.epsilon = "egreedy", 0.0
    assert g.policy.select_actions(torch.tensor([[0.1, 0.9]]), deterministic=False, explore=True).tolist() == [1]


def test_g_learning_starts_as_the_prior_and_psi_from_its_logits(env):
    g = GLearning("RecurrentQPolicy", env)
    assert torch.count_nonzero(g.q_net.head.weight) == 0  # G ≡ 0: pi = prior
    psi = PsiLearning("RecurrentQPolicy", env)
    obs = env.reset()
    obs_t = {k: torch.as_tensor(v) for k, v in obs.items()}
    with torch.no_grad():
        log_pi, _ = psi.policy.recurrent_log_probs(obs_t, psi.policy.initial_state(2))
    assert np.allclose(log_pi.exp().numpy(), np.exp(obs["prior_log_probs"]), atol=1e-5)


@pytest.mark.parametrize("algo", [PriorQLearning, PsiLearning, GLearning])
@pytest.mark.parametrize("lam", [0.5, 1.0])
def test_lambda_returns_match_a_hand_recursion(env, algo, lam):
    model = algo("RecurrentQPolicy", env, learning_starts=0, gamma=0.9, td_lambda=lam)
    batch = _buffer_with_one_episode(model).td_batch(1, model.q_net, model.q_net_target)
    target = model.td_target(batch)[0]
    tokens, domain, log_p = _episode(38)
    with torch.no_grad():
        q_all, _ = model.q_net_target(torch.as_tensor(tokens[None, :4]))
    q_all = q_all[0]
    rewards = [domain[t] / C + (0.0 if algo is GLearning else W * log_p[t, tokens[t + 1]]) for t in range(3)]

    def value(t):  # V⁻(s_t) and the correction of the action taken at s_t
        q = q_all[t]
        if algo is PriorQLearning:
            return q.max().item(), 0.0
        v = torch.logsumexp(q + (torch.as_tensor(log_p[t]) if algo is GLearning else 0.0), 0).item()
        return v, q[tokens[t + 1]].item() - v if t < 3 else 0.0

    expected = [0.0, 0.0, rewards[2]]  # the last step ends the episode
    for t in (1, 0):
        v_next, k_next = value(t + 1)
        expected[t] = rewards[t] + 0.9 * ((1 - lam) * v_next + lam * (expected[t + 1] - k_next))
    assert target.tolist() == pytest.approx(expected, abs=1e-4)
    if algo is PriorQLearning and lam == 1.0:  # Peng's Q(1) is the discounted Monte-Carlo return
        assert target[0].item() == pytest.approx(rewards[0] + 0.9 * rewards[1] + 0.81 * rewards[2], abs=1e-4)


def test_lambda_returns_need_episode_replay(env):
    with pytest.raises(ValueError, match="td_lambda > 0 needs whole replayed episodes"):
        PsiLearning("RecurrentQPolicy", env, td_lambda=0.9, replay_buffer_class="transition")


def _two_step_batch(q_all, log_p, actions, domain, weight):
    """A TDBatch of one 2-step episode with the given online values (B=1, T=2, V)."""
    from seqtutor_agents.sequence_tutor.buffers import TDBatch

    taken = torch.stack([q_all[0, t, actions[t]] for t in range(2)])[None]
    prior_taken = torch.stack([log_p[0, t, actions[t]] for t in range(2)])[None]
    return TDBatch(
        q_taken=taken,
        next_q=torch.zeros_like(q_all),
        next_prior_log_probs=log_p,
        prior_log_prob=prior_taken,
        domain_reward=torch.tensor([domain]),
        prior_weight=torch.full((1, 2), weight),
        not_done=torch.tensor([[1.0, 0.0]]),
        mask=torch.ones(1, 2),
        q_all=q_all,
        prior_log_probs=log_p,
    )


@pytest.mark.parametrize("algo", [PsiLearning, GLearning])
def test_path_consistency_vanishes_at_the_soft_optimum_and_not_elsewhere(env, algo):
    """Values built as the soft optimum of a 2-step episode (any value for the untaken first action) give a
    zero residual; the loss is (V(s0) + Σ log π − Σ r)² / T otherwise."""
    model = algo("RecurrentQPolicy", env, learning_starts=0, gamma=1.0, consistency_coef=1.0)
    vocab, c = 38, model.current_c
    generator = torch.Generator().manual_seed(3)
    log_p = torch.log_softmax(torch.randn(1, 2, vocab, generator=generator), -1)
    actions, domain = (4, 7), [0.7, -1.3]
    weight = W if algo is PsiLearning else 1.0  # G's policy carries the prior with weight 1
    # reward of every action at each step: w log p + r/c (the domain reward differs only for the taken one)
    rewards = weight * log_p + torch.stack([torch.full((vocab,), d / c) for d in domain])[None]
    prior = log_p if algo is GLearning else 0.0  # Ψ = G + log p: the G-form values plus log p
    soft_last = rewards[0, 1] - (weight * log_p[0, 1] if algo is GLearning else 0.0)  # G drops w log p from its reward
    q1 = soft_last if algo is GLearning else rewards[0, 1]
    value1 = torch.logsumexp(q1 + (log_p[0, 1] if algo is GLearning else 0.0), 0)
    q0 = torch.randn(vocab, generator=generator)  # the untaken actions at s0: anything
    first = rewards[0, 0, actions[0]] - (weight * log_p[0, 0, actions[0]] if algo is GLearning else 0.0)
    q0[actions[0]] = first + value1
    q_all = torch.stack([q0, q1])[None]
    assert model.consistency_loss(_two_step_batch(q_all, log_p, actions, domain, W)).item() == pytest.approx(
        0, abs=1e-8
    )
    shifted = q_all.clone()
    shifted[0, 1, actions[1]] += 0.5  # a wrong value at the last taken action
    value0 = torch.logsumexp(shifted[0, 0] + (prior[0, 0] if algo is GLearning else 0.0), 0)
    log_pi = [
        shifted[0, t, actions[t]]
        + (prior[0, t, actions[t]] if algo is GLearning else 0.0)
        - torch.logsumexp(shifted[0, t] + (prior[0, t] if algo is GLearning else 0.0), 0)
        for t in range(2)
    ]
    residual = value0 + sum(log_pi[t] - rewards[0, t, actions[t]] for t in range(2))
    expected = residual.item() ** 2 / 2
    assert model.consistency_loss(_two_step_batch(shifted, log_p, actions, domain, W)).item() == pytest.approx(expected)
    assert expected > 1e-3
    with pytest.raises(ValueError, match="gamma 1"):
        algo("RecurrentQPolicy", env, gamma=0.9, consistency_coef=1.0)
