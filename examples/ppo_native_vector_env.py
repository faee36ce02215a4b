"""CleanRL-style PPO on a seqtutor env's native vector env, masking its autoreset steps.

``gym.make_vec("SeqTutor-Melody-v0", num_envs=64)`` steps 64 melodies with one batched prior forward.
It autoresets Gymnasium 1.x's default way, ``autoreset_mode="next_step"``: the step *after* an
episode ends only resets that sub-env -- its action is ignored, its reward is 0, it is not a
transition of any episode. A 32-step melody thus takes 33 vector steps and every 33rd step of a
sub-env is such a reset step. This loop records, per step and sub-env, whether the step was a real
transition (``valid = not ended on the previous step``), gives reset steps no advantage, cuts GAE at
them, and trains only on valid steps -- the masking a CleanRL loop needs on any next-step vector env.

The agent is feed-forward (the observation is Markov): an embedding of the last token and the step,
an actor whose logits are the prior's log-probabilities plus a learned residual (zero at the start,
so the first policy *is* the prior) and a critic.

    python examples/ppo_native_vector_env.py --total-timesteps 200000 --c 0.5
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import nn

import seqtutor_envs  # noqa: F401  (registers the environments)


@dataclass
class Args:
    env_id: str = "SeqTutor-Melody-v0"
    num_envs: int = 64
    num_steps: int = 66  # vector steps per rollout
    total_timesteps: int = 100_000
    learning_rate: float = 1e-3
    gamma: float = 1.0
    gae_lambda: float = 0.95
    update_epochs: int = 2
    num_minibatches: int = 4
    clip_coef: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    c: float = 0.5  # the env's c: reward = log p_prior + r_MT / c
    seed: int = 0


class Agent(nn.Module):
    def __init__(self, vocab: int, num_actions: int, max_steps: int, hidden: int = 64) -> None:
        super().__init__()
        self.token = nn.Embedding(vocab, hidden)
        self.step = nn.Embedding(max_steps + 1, hidden)
        self.body = nn.Sequential(nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh())
        self.actor = nn.Linear(hidden, num_actions)
        nn.init.zeros_(self.actor.weight), nn.init.zeros_(self.actor.bias)  # start as the prior
        self.critic = nn.Linear(hidden, 1)

    def forward(self, obs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        step = obs["step"].long()
        last = obs["tokens"].long().gather(1, step.reshape(-1, 1)).squeeze(1)
        h = self.body(self.token(last) + self.step(step))
        return obs["prior_log_probs"] + self.actor(h), self.critic(h).squeeze(-1)


def _tensors(obs: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {key: torch.as_tensor(value) for key, value in obs.items()}


def collect(envs, agent, obs, ended, storage, stats) -> tuple[dict, np.ndarray]:
    """One rollout of ``num_steps`` vector steps; ``ended`` marks sub-envs whose next step is a reset step."""
    for t in range(storage["actions"].shape[0]):
        with torch.no_grad():
            logits, value = agent(_tensors(obs))
            dist = torch.distributions.Categorical(logits=logits)
            action = dist.sample()
        storage["valid"][t] = torch.as_tensor(~ended)  # a reset step is no transition
        for key in obs:
            storage["obs"][key][t] = torch.as_tensor(obs[key])
        storage["actions"][t], storage["logprobs"][t], storage["values"][t] = action, dist.log_prob(action), value
        obs, reward, terminated, truncated, _ = envs.step(action.numpy())
        storage["rewards"][t] = torch.as_tensor(reward, dtype=torch.float32)
        storage["dones"][t] = torch.as_tensor(terminated | truncated)
        stats["returns"] += reward  # 0 on reset steps
        for i in np.flatnonzero(terminated | truncated):
            stats["episode_returns"].append(float(stats["returns"][i]))
            stats["returns"][i] = 0.0
        stats["reset_steps"] += int(ended.sum())
        stats["reset_rewards"] = max(stats["reset_rewards"], float(np.abs(reward[ended]).max(initial=0.0)))
        ended = terminated | truncated
    return obs, ended


def advantages(storage, next_value: torch.Tensor, next_valid: torch.Tensor, gamma: float, lam: float):
    """GAE that neither bootstraps across an episode end nor credits a reset step."""
    rewards, values, dones, valid = storage["rewards"], storage["values"], storage["dones"], storage["valid"]
    adv = torch.zeros_like(rewards)
    last = torch.zeros_like(next_value)
    for t in reversed(range(rewards.shape[0])):
        nxt_value = next_value if t == rewards.shape[0] - 1 else values[t + 1]
        nxt_valid = next_valid if t == rewards.shape[0] - 1 else valid[t + 1]
        go_on = (~dones[t]).float()  # after an episode's last step, nothing (the next step is a reset step)
        delta = rewards[t] + gamma * nxt_value * go_on - values[t]
        last = torch.where(valid[t], delta + gamma * lam * go_on * nxt_valid.float() * last, 0.0)
        adv[t] = last
    return adv, adv + values


def update(agent, optimizer, storage, adv, returns, args: Args) -> dict[str, float]:
    """PPO's clipped update on the valid steps only."""
    keep = storage["valid"].reshape(-1)
    flat = {key: value.reshape(-1, *value.shape[2:])[keep] for key, value in storage["obs"].items()}
    actions, old_logp = storage["actions"].reshape(-1)[keep], storage["logprobs"].reshape(-1)[keep]
    adv, returns = adv.reshape(-1)[keep], returns.reshape(-1)[keep]
    n = int(keep.sum())
    size = max(1, n // args.num_minibatches)
    for _ in range(args.update_epochs):
        for idx in torch.randperm(n).split(size):
            logits, value = agent({key: v[idx] for key, v in flat.items()})
            dist = torch.distributions.Categorical(logits=logits)
            ratio = (dist.log_prob(actions[idx]) - old_logp[idx]).exp()
            a = (adv[idx] - adv[idx].mean()) / (adv[idx].std() + 1e-8)
            pg_loss = torch.max(-a * ratio, -a * ratio.clamp(1 - args.clip_coef, 1 + args.clip_coef)).mean()
            v_loss = 0.5 * (value - returns[idx]).pow(2).mean()
            loss = pg_loss + args.vf_coef * v_loss - args.ent_coef * dist.entropy().mean()
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
            optimizer.step()
    return {"pg_loss": pg_loss.item(), "v_loss": v_loss.item(), "trained_steps": n}


def train(args: Args) -> dict:
    """Run PPO; returns what a caller checks (episode returns, reset steps seen, steps trained on)."""
    torch.manual_seed(args.seed)
    envs = gym.make_vec(args.env_id, num_envs=args.num_envs, c=args.c)  # autoreset_mode="next_step"
    space = envs.single_observation_space
    agent = Agent(int(space["tokens"].nvec[0]), int(envs.single_action_space.n), int(space["step"].n) - 1)
    optimizer = torch.optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5)
    shape = (args.num_steps, args.num_envs)
    dtypes = {key: torch.float32 if key == "prior_log_probs" else torch.long for key in space.spaces}
    storage = {
        "obs": {key: torch.zeros(shape + s.shape, dtype=dtypes[key]) for key, s in space.spaces.items()},
        "actions": torch.zeros(shape, dtype=torch.long),
        "logprobs": torch.zeros(shape),
        "values": torch.zeros(shape),
        "rewards": torch.zeros(shape),
        "dones": torch.zeros(shape, dtype=torch.bool),
        "valid": torch.zeros(shape, dtype=torch.bool),
    }
    stats = {
        "returns": np.zeros(args.num_envs),
        "episode_returns": [],
        "reset_steps": 0,
        "reset_rewards": 0.0,
        "trained_steps": 0,
        "updates": [],
    }
    obs, _ = envs.reset(seed=args.seed)
    ended = np.zeros(args.num_envs, dtype=bool)
    start = time.time()
    for _ in range(max(1, args.total_timesteps // (args.num_steps * args.num_envs))):
        obs, ended = collect(envs, agent, obs, ended, storage, stats)
        with torch.no_grad():
            next_value = agent(_tensors(obs))[1]
        adv, returns = advantages(storage, next_value, torch.as_tensor(~ended), args.gamma, args.gae_lambda)
        result = update(agent, optimizer, storage, adv, returns, args)
        stats["trained_steps"] += result["trained_steps"]
        stats["updates"].append(result)
        recent = stats["episode_returns"][-args.num_envs :]
        steps = stats["trained_steps"] + stats["reset_steps"]
        print(
            f"steps {steps:>8}  return {np.mean(recent) if recent else 0:8.2f}  reset steps masked "
            f"{stats['reset_steps']:>6}  {time.time() - start:5.1f} s",
            flush=True,
        )
    envs.close()
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in vars(Args()).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    train(Args(**vars(parser.parse_args())))


if __name__ == "__main__":
    main()
