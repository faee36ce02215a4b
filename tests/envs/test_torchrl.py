"""seqtutor envs in TorchRL (optional extra): GymEnv and GymWrapper, single and batched, pass
check_env_specs, read the reward's parts from info, and run a collector loop."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import seqtutor_envs  # noqa: F401
from seqtutor_envs.torchrl_env import make_torchrl_env, reward_parts_reader

torchrl = pytest.importorskip("torchrl")
from tensordict.nn import TensorDictModule  # noqa: E402
from torchrl.collectors import Collector  # noqa: E402  (SyncDataCollector before TorchRL 0.11)
from torchrl.envs import GymEnv, GymWrapper  # noqa: E402
from torchrl.envs.utils import check_env_specs  # noqa: E402

ENVS = [("SeqTutor-Melody-v0", {"composition_length": 8}), ("SeqTutor-SMILES-v0", {"max_length": 12})]


def _assert_parts_compose_the_reward(td):
    nxt = td["next"]
    recomposed = nxt["prior_weight"] * nxt["prior_log_prob"] + nxt["domain_reward"] / nxt["c"]
    assert nxt["prior_log_prob"].dtype == torch.float64 and (nxt["prior_log_prob"] <= 0).all()
    assert torch.allclose(recomposed.float(), nxt["reward"].squeeze(-1), atol=1e-4)


@pytest.mark.parametrize("env_id, kwargs", ENVS)
def test_gym_env_probes_frameskip_and_passes_check_env_specs(env_id, kwargs):
    with pytest.raises(TypeError, match="got an unexpected keyword argument 'frameskip'"):
        gym.make(env_id, frameskip=4, **kwargs)
    env = GymEnv(env_id, **kwargs)  # TorchRL passes frameskip, and retries without it on Python's wording
    env.set_info_dict_reader(reward_parts_reader(env.batch_size))
    check_env_specs(env)
    env.set_seed(0)
    td = env.rollout(30, break_when_any_done=False)
    assert td["next", "done"].sum() >= 2  # episodes end and restart inside the rollout
    _assert_parts_compose_the_reward(td)


@pytest.mark.parametrize("env_id, kwargs", ENVS)
def test_gym_wrapper_single_and_native_batched(env_id, kwargs):
    single = GymWrapper(gym.make(env_id, **kwargs))
    single.set_info_dict_reader(reward_parts_reader())
    check_env_specs(single)
    batched = GymWrapper(gym.make_vec(env_id, num_envs=3, autoreset_mode="disabled", **kwargs))
    assert batched.batch_size == torch.Size([3])
    batched.set_info_dict_reader(reward_parts_reader(batched.batch_size))
    check_env_specs(batched)
    batched.set_seed(1)
    td = batched.rollout(30, break_when_any_done=False)  # TorchRL resets finished sub-envs with reset_mask
    assert td.shape == torch.Size([3, 30]) and td["next", "done"].sum() >= 6
    _assert_parts_compose_the_reward(td)


def test_a_collector_loop_with_a_prior_sampling_policy():
    env = make_torchrl_env("SeqTutor-Melody-v0", num_envs=8, composition_length=8)
    env.set_seed(0)
    torch.manual_seed(0)

    def sample(log_probs):  # one-hot actions (TorchRL's default encoding of Discrete) drawn from the prior
        return torch.nn.functional.one_hot(torch.distributions.Categorical(logits=log_probs).sample(), 38)

    policy = TensorDictModule(sample, in_keys=["prior_log_probs"], out_keys=["action"])
    collector = Collector(env, policy, frames_per_batch=64, total_frames=256, auto_register_policy_transforms=False)
    batches = list(collector)
    collector.shutdown()
    assert len(batches) == 4 and all(b.numel() == 64 for b in batches)
    data = torch.cat([b.reshape(-1) for b in batches])
    _assert_parts_compose_the_reward(data)
    assert int(data["next", "done"].sum()) == 256 // 8  # 8-token melodies
    # the actions follow the prior: its log-probability of them is far above a uniform draw's (~ -8 nats)
    assert float(data["next", "prior_log_prob"].mean()) > -2.5
    assert np.isfinite(float(data["next", "domain_reward"].sum()))
