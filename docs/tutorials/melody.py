# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Tutorial: a melody held to a KL budget
#
# We fine-tune the shipped Note RNN with G-learning so that the tuned policy spends about 0.1 nats per
# note of KL from the prior, compare it with the exact optimum π* of the same objective, and listen to it.
#
# This page is a notebook kept as text ([jupytext](https://jupytext.readthedocs.io) percent format:
# `docs/tutorials/melody.py`); open it in Jupyter or run it as a script. Its budgets come from two
# environment variables, so the test suite runs it in seconds: `SEQTUTOR_TUTORIAL_STEPS` (env steps of
# training, default 200,000: about a minute on one core) and `SEQTUTOR_TUTORIAL_SAMPLES` (prior
# compositions behind π*, default 200,000, as `seqtutor report` uses).

# %%
# tqdm's notebook progress bars need ipywidgets; without it they are plain bars, and it warns once
import warnings

warnings.filterwarnings("ignore", message="IProgress not found")

# %%
import os
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
from IPython.display import Audio, Image, display

import seqtutor_envs  # noqa: F401  (registers the envs)
from seqtutor_agents import GLearning, make_sb3_vec_env
from seqtutor_agents.runs.config import defaults
from seqtutor_agents.runs.evaluation import episodes_of
from seqtutor_agents.runs.report import optimality_ratio
from seqtutor_envs.melody.audio import write_wav
from seqtutor_envs.melody.midi import save_piano_roll_png
from seqtutor_envs.optimum import optimum_at, sample_prior

STEPS = int(os.environ.get("SEQTUTOR_TUTORIAL_STEPS", 200_000))
SAMPLES = int(os.environ.get("SEQTUTOR_TUTORIAL_SAMPLES", 200_000))
EPISODES = min(2_000, SAMPLES)  # compositions sampled from each policy for the comparison
ENV_ID = "SeqTutor-Melody-v0"
OUT = Path("runs") / "tutorial_melody"  # runs/ is where seqtutor writes; a clone ignores it
OUT.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## The environment
#
# One episode is one composition of 32 sixteenth-note steps after a random priming note. Every step's
# reward is `log p_prior(a|s) + r_MT(s, a) / c`, and `info` carries its parts.

# %%
env = gym.make(ENV_ID, render_mode="ansi")
obs, info = env.reset(seed=0)
obs, reward, terminated, truncated, info = env.step(14)  # token 14 starts C4 (MIDI 60)
print({key: info[key] for key in ("prior_log_prob", "domain_reward", "c", "prior_weight")})
print("reward =", reward, "=", info["prior_log_prob"], "+", info["domain_reward"], "/", info["c"])
print(env.render())

# %% [markdown]
# ## Train G-learning to a KL target
#
# `target_kl=0.1` lets a controller adapt c during training so that the exact KL(π ‖ prior) per step
# tracks 0.1 nats. The other settings are the ones `seqtutor train --algo g` uses on this env: the
# algorithm table's row with the melody domain's settings over it (γ = 1, λ-returns, two gradient steps
# per update).

# %%
settings = defaults(ENV_ID, "g")
n_envs = settings.pop("n_envs")
print(settings)
vec_env = make_sb3_vec_env(ENV_ID, n_envs=n_envs, seed=0)
model = GLearning("RecurrentQPolicy", vec_env, seed=0, target_kl=0.1, **settings)
model.learn(STEPS)
print(f"{model.num_timesteps:,} env steps; c adapted to {model.current_c:.3g}")

# %% [markdown]
# ## Compare with the prior and with π*
#
# The objective every learner here maximises, E[R]/c − KL(π ‖ prior), has an exact optimum,
# π\*(x) ∝ p(x)·exp(R(x)/c). `seqtutor_envs.optimum` estimates it by importance sampling over prior
# compositions. The **optimality ratio** is the tuned model's return over π\*'s return at the model's KL;
# it is left out (NaN) when the model's KL lies outside π\*'s reliable range (effective sample size
# under 1,000 — with few prior samples, as in the test suite's run of this page).

# %%
tuned = episodes_of(model, ENV_ID, EPISODES, seed=1, env_kwargs={}, progress=False)
prior = episodes_of(None, ENV_ID, EPISODES, seed=1, env_kwargs={}, progress=False)
sample = sample_prior(ENV_ID, SAMPLES, seed=0, progress=False)
c = float(model.current_c)
star = optimum_at(sample, c, resample=EPISODES)
ratio = optimality_ratio(sample, 1.0, tuned, c)

table = pd.DataFrame(
    {
        "prior": [prior.domain_returns.mean(), prior.kl_per_step, np.nan],
        "G (tuned)": [tuned.domain_returns.mean(), tuned.kl_per_step, np.nan if ratio is None else ratio],
        f"π* at c = {c:.3g}": [star.domain_return, star.kl_per_step, np.nan],
    },
    index=["music-theory return", "KL(π ‖ prior) per step", "return / π*'s at the same KL"],
)
display(table.round(3) + 0.0)  # + 0.0: no '-0.0' for the prior's KL to itself
print(f"π*'s effective sample size: {star.ess:,.0f} ({'reliable' if star.reliable else 'unreliable: under 1,000'})")

# %% [markdown]
# Reading it: a ratio of 1 means the model earns everything the objective allows at its KL. On the
# full budget of the benchmarks (600k env steps, three seeds) G reaches 0.856–0.892 of π\*'s return at
# every KL target ([`benchmarks/results/melody_frontier.md`](../../results/files/melody_frontier/)).

# %% [markdown]
# ## Look and listen
#
# The tuned model's first four compositions as a piano roll, and the first as audio (FluidSynth with a
# General-MIDI soundfont where installed, else sine tones).

# %%
compositions = tuned.finals["composition"][:4]
save_piano_roll_png(compositions, OUT / "tuned.png", titles=[f"G, composition {i}" for i in range(4)], columns=2)
display(Image(filename=str(OUT / "tuned.png")))
write_wav(compositions[0], OUT / "tuned_0.wav")
display(Audio(filename=str(OUT / "tuned_0.wav")))

# %% [markdown]
# The same from the command line: `seqtutor train --env SeqTutor-Melody-v0 --algo g --target-kl 0.1
# --steps 600000 --out runs/g`, then `seqtutor report runs/g` for one page with these tables, piano rolls
# and players.
