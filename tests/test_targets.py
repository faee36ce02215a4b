"""The three learners' TD targets on tiny hand-made tensors, against values worked out by hand."""

import math

import numpy as np
import pytest
import torch

from seqtutor_agents import GLearning, PriorQLearning, PsiLearning, make_sb3_vec_env


@pytest.fixture(scope="module")
def env():
    return make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=2, seed=0, c=2.0, prior_weight=0.5)


def test_bootstrap_values_by_hand(env):
    next_q = torch.tensor([[1.0, 2.0, 0.0]])
    log_p = torch.log(torch.tensor([[0.5, 0.25, 0.25]]))
    q = PriorQLearning("RecurrentQPolicy", env, learning_starts=0)
    psi = PsiLearning("RecurrentQPolicy", env, learning_starts=0)
    g = GLearning("RecurrentQPolicy", env, learning_starts=0)
    assert q.bootstrap_value(next_q, log_p).item() == pytest.approx(2.0)  # max
    assert psi.bootstrap_value(next_q, log_p).item() == pytest.approx(math.log(math.e + math.e**2 + 1))
    # log sum_a p(a) exp G(a) = log(0.5 e + 0.25 e^2 + 0.25)
    assert g.bootstrap_value(next_q, log_p).item() == pytest.approx(math.log(0.5 * math.e + 0.25 * math.e**2 + 0.25))


def test_g_learning_removes_the_prior_term_from_the_reward(env):
    g = GLearning("RecurrentQPolicy", env, learning_starts=0)
    q = PriorQLearning("RecurrentQPolicy", env, learning_starts=0)
    assert g.prior_weight == 0.5 and g.env_c == 2.0
    rewards, log_p = torch.tensor([1.0, -3.0]), torch.tensor([-2.0, -4.0])
    # r = 0.5 log p + r_MT / c  =>  r_MT / c = r - 0.5 log p
    assert torch.allclose(g.td_reward(rewards, log_p), torch.tensor([2.0, -1.0]))
    assert torch.equal(q.td_reward(rewards, log_p), rewards)


def _one_episode_batch(num_actions: int) -> dict[str, torch.Tensor]:
    """An episode of 3 actions (tokens 2, 3, 4 after primer 5) in a buffer row of width 4."""
    log_p = torch.log_softmax(torch.randn(1, 4, num_actions, generator=torch.Generator().manual_seed(0)), -1)
    return {
        "tokens": torch.tensor([[5, 2, 3, 4, 38]]),  # the last column is padding
        "rewards": torch.tensor([[1.0, -1.0, 0.5, 0.0]]),
        "prior_log_probs": torch.cat([log_p, torch.zeros(1, 1, num_actions)], dim=1),
        "lengths": torch.tensor([3]),
    }


@pytest.mark.parametrize("algo", [PriorQLearning, PsiLearning, GLearning])
def test_episode_targets_match_a_hand_computation(env, algo):
    model = algo("RecurrentQPolicy", env, learning_starts=0, gamma=0.5)
    batch = _one_episode_batch(38)
    q_taken, target, mask = model._episode_td(batch)
    assert mask.tolist() == [[1.0, 1.0, 1.0, 0.0]]
    tokens = batch["tokens"][0, :4]
    with torch.no_grad():
        q_all, _ = model.q_net(tokens[None, :3])
        target_all, _ = model.q_net_target(tokens[None, :4])
    expected_q = [q_all[0, t, tokens[t + 1]].item() for t in range(3)]
    assert q_taken[0, :3].tolist() == pytest.approx(expected_q, abs=1e-5)
    log_p = batch["prior_log_probs"][0]
    for t in range(3):
        reward = batch["rewards"][0, t].item()
        if algo is GLearning:
            reward -= 0.5 * log_p[t, tokens[t + 1]].item()
        nxt = target_all[0, t + 1]
        if algo is PriorQLearning:
            value = nxt.max().item()
        elif algo is PsiLearning:
            value = torch.logsumexp(nxt, 0).item()
        else:
            value = torch.logsumexp(nxt + log_p[t + 1], 0).item()
        expected = reward + (0.5 * value if t < 2 else 0.0)  # the last action ends the episode
        assert target[0, t].item() == pytest.approx(expected, abs=1e-5)


def test_transition_targets_match_the_episode_targets_with_fresh_states(env):
    """With stored states computed by the current weights, both replay modes give one target."""
    model = PsiLearning("RecurrentQPolicy", env, learning_starts=0, gamma=0.5, replay="transition")
    batch = _one_episode_batch(38)
    _, episode_target, _ = model._episode_td(batch)
    tokens = batch["tokens"][0, :4]
    state = model.policy.initial_state(1)
    states = [state]
    with torch.no_grad():
        for t in range(3):
            _, state = model.q_net(tokens[None, t : t + 1], state)
            states.append(state)
    log_p = batch["prior_log_probs"][0]
    for t in range(3):
        transition = {
            "token_in": tokens[t : t + 1],
            "state": states[t],
            "actions": tokens[t + 1 : t + 2],
            "rewards": batch["rewards"][0, t : t + 1],
            "action_log_prob": log_p[t, tokens[t + 1]].reshape(1),
            "next_state": states[t + 1],
            "next_prior_log_probs": log_p[t + 1][None],
            "dones": torch.tensor([1.0 if t == 2 else 0.0]),
        }
        _, target, _ = model._transition_td(transition)
        assert target.item() == pytest.approx(episode_target[0, t].item(), abs=1e-5)


def test_policies_from_q_values(env):
    q_values = torch.tensor([[0.0, math.log(3.0)]])
    log_p = torch.log(torch.tensor([[0.75, 0.25]]))
    psi = PsiLearning("RecurrentQPolicy", env)
    g = GLearning("RecurrentQPolicy", env)
    assert torch.softmax(psi.policy.policy_logits(q_values, log_p), 1).tolist()[0] == pytest.approx([0.25, 0.75])
    # G: pi ∝ p exp(G) = (0.75 * 1, 0.25 * 3) -> (0.5, 0.5)
    assert torch.softmax(g.policy.policy_logits(q_values, log_p), 1).tolist()[0] == pytest.approx([0.5, 0.5])
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
        q_values, _ = psi.policy.step_q(obs_t, psi.policy.initial_state(2))
    pi = torch.softmax(psi.policy.policy_logits(q_values, obs_t["prior_log_probs"]), 1)
    assert np.allclose(pi.numpy(), np.exp(obs["prior_log_probs"]), atol=1e-5)
