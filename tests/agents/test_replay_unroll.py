"""The replay's fast paths give what the plain computations give: the length-segmented unroll, the
λ-return scan, and acting through a frozen stepper of the Q-network."""

import numpy as np
import pytest
import torch

from seqtutor_agents import GLearning, make_sb3_vec_env
from seqtutor_agents.common.recurrent import unroll_episodes, unroll_plan
from seqtutor_agents.sequence_tutor.algorithm import linear_recurrence
from seqtutor_envs.prior import LSTMPrior, PriorConfig


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return LSTMPrior(PriorConfig(num_outputs=7, num_inputs=8, embedding_dim=5, hidden_size=16, num_layers=2))


def test_plan_skips_padding_and_keeps_equal_lengths_whole():
    lengths = np.array([3, 9, 5, 9, 1, 7])
    order, segments = unroll_plan(lengths, max_segments=3)
    assert lengths[order].tolist() == [9, 9, 7, 5, 3, 1]  # longest first, ties in row order
    assert segments[0][0] == 0 and segments[-1][1] == 9
    for (start, end, rows), (next_start, _, _) in zip(segments, [*segments[1:], (9, 0, 0)], strict=False):
        assert end == next_start and rows == int((lengths > start).sum())
    steps = sum(rows * (end - start) for start, end, rows in segments)
    assert steps < len(lengths) * 9  # fewer LSTM steps than the padded rectangle
    assert unroll_plan(np.full(4, 32))[1] == [(0, 32, 4)]  # melodies: one call


def test_unroll_matches_one_call_where_the_rows_are_real(net):
    generator = torch.Generator().manual_seed(1)
    lengths = np.array([12, 3, 7, 12, 1, 9, 5, 10])
    inputs = torch.randint(0, 8, (8, 13), generator=generator)
    steps = torch.arange(12)[None, :] < torch.as_tensor(lengths)[:, None]
    whole, _ = net(inputs[:, :12])
    parts = unroll_episodes(net, inputs, lengths, max_segments=4)
    assert parts.shape == whole.shape
    torch.testing.assert_close(parts[steps], whole[steps], rtol=1e-5, atol=1e-6)
    assert torch.isfinite(parts).all()
    weights = torch.randn(whole.shape, generator=generator) * steps[..., None]
    grads = []
    for outputs in (whole, parts):
        net.zero_grad()
        (outputs * weights).sum().backward(retain_graph=True)
        grads.append([p.grad.clone() for p in net.parameters()])
    for a, b in zip(*grads, strict=False):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_linear_recurrence_is_the_backward_loop():
    generator = torch.Generator().manual_seed(2)
    for steps in (1, 2, 5, 32, 47):
        offset = torch.randn(6, steps, generator=generator, dtype=torch.float64)
        coefficient = torch.rand(6, steps, generator=generator, dtype=torch.float64)
        coefficient[0, steps // 2 :] = 0.0  # an episode that ends early
        expected, following = torch.zeros_like(offset), torch.zeros(6, dtype=torch.float64)
        for t in reversed(range(steps)):
            expected[:, t] = offset[:, t] + coefficient[:, t] * following
            following = expected[:, t]
        torch.testing.assert_close(linear_recurrence(offset, coefficient), expected)


def test_stepper_outputs_are_the_networks_and_its_log_softmax(net):
    stepper = net.frozen_stepper()
    tokens = torch.tensor([0, 7, 3])
    state = (torch.randn(2, 3, 16), torch.randn(2, 3, 16))
    outputs, (h, c) = net(tokens.reshape(-1, 1), state)
    values, (h_step, c_step) = stepper.outputs(tokens, state)
    torch.testing.assert_close(values, outputs[:, 0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(h_step, h, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(c_step, c, rtol=1e-5, atol=1e-6)
    log_probs, _ = stepper(tokens, state)
    torch.testing.assert_close(log_probs, torch.log_softmax(values, -1))


def test_learner_acts_from_a_stepper_made_per_collection_and_left_after_it():
    env = make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=4, seed=0)
    model = GLearning("RecurrentQPolicy", env, learning_starts=64, train_freq=8, seed=0)
    seen = []
    act = model.act

    def spy(obs, state):
        seen.append(model._acting_stepper is not None)
        return act(obs, state)

    model.act = spy
    model.learn(256)
    assert seen and all(seen)
    assert model._acting_stepper is None  # the weights change between collections: no stale copy kept
