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
# # Tutorial: molecules for an objective of your own
#
# We write a multi-parameter objective as a scoring file, check it on the prior's molecules, fine-tune
# the shipped SMILES prior toward it with G-learning through a run folder, and look at what the tuned
# model writes: the molecule table and a grid of the best molecules.
#
# A notebook kept as text (`docs/tutorials/molecules.py`, jupytext percent format). Budgets:
# `SEQTUTOR_TUTORIAL_STEPS` (env steps of training, default 60,000: about a minute and a half on one
# core; the benchmarks' QED runs use 300,000) and `SEQTUTOR_TUTORIAL_SAMPLES` (molecules sampled for
# the tables, default 2,000).

# %%
# tqdm's notebook progress bars need ipywidgets; without it they are plain bars, and it warns once
import warnings

warnings.filterwarnings("ignore", message="IProgress not found")

# %%
import os
from pathlib import Path

import gymnasium as gym
import pandas as pd
from IPython.display import Image, display

import seqtutor_envs  # noqa: F401  (registers the envs)
from seqtutor_agents.runs.config import TrainConfig
from seqtutor_agents.runs.evaluation import episodes_of
from seqtutor_agents.runs.training import load_run, train
from seqtutor_envs.smiles.samples import save_top_molecules

STEPS = int(os.environ.get("SEQTUTOR_TUTORIAL_STEPS", 60_000))
SAMPLES = int(os.environ.get("SEQTUTOR_TUTORIAL_SAMPLES", 2_000))
ENV_ID = "SeqTutor-SMILES-v0"
OUT = Path("runs") / "tutorial_molecules"  # runs/ is where seqtutor writes; a clone ignores it
OUT.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## Your objective, as a scoring file
#
# Drug-like (QED), small (molecular weight between 150 and 350 through REINVENT 4's double sigmoid),
# close to paracetamol (Tanimoto similarity of ECFP4 fingerprints), and no PAINS alert (a filter: a
# molecule that matches scores 0). The components are combined by a weighted geometric mean. The file
# is checked when it is read: a misspelt component, parameter or transform is refused in one line that
# names the file, the key and its line.

# %%
objective = OUT / "my_objective.toml"
objective.write_text("""
[scoring]
type = "geometric_mean"

[[scoring.component]]
[scoring.component.QED]
[[scoring.component.QED.endpoint]]
name = "QED"
weight = 0.5

[[scoring.component]]
[scoring.component.MolecularWeight]
[[scoring.component.MolecularWeight.endpoint]]
name = "MW"
weight = 0.25
transform.type = "double_sigmoid"
transform.low = 150.0
transform.high = 350.0
transform.coef_div = 350.0
transform.coef_si = 20.0
transform.coef_se = 20.0

[[scoring.component]]
[scoring.component.TanimotoSimilarity]
[[scoring.component.TanimotoSimilarity.endpoint]]
name = "like paracetamol"
weight = 0.25
params.smiles = ["CC(=O)Nc1ccc(O)cc1"]
params.fingerprint = "ECFP4"

[[scoring.component]]
[scoring.component.FilterCatalog]
[[scoring.component.FilterCatalog.endpoint]]
name = "PAINS"
params.catalogs = ["PAINS"]
""")

# %% [markdown]
# The env reads it as `objective="file:<path>"`; the last step's `info` holds the score and every
# component, transformed and raw.

# %%
env = gym.make(ENV_ID, objective=f"file:{objective}")
obs, info = env.reset(seed=0)
for token in env.unwrapped.vocab.encode("CC(=O)Nc1ccc(O)cc1", add_bos=False):  # paracetamol itself, then END
    obs, reward, terminated, truncated, info = env.step(token)
print(info["smiles"], "score", info["score"])
print("transformed:", info["components"])
print("raw:", info["components_raw"])

# %% [markdown]
# ## Train
#
# `seqtutor train --env SeqTutor-SMILES-v0 --algo g --scoring my_objective.toml` does the same from the
# command line. The run folder keeps a copy of the scoring file, the settings (`config.toml`), the
# model, its checkpoints and every training molecule (`sequences.csv`).

# %%
config = TrainConfig(out=str(OUT / "run"), env_id=ENV_ID, algo="g", steps=STEPS, scoring=str(objective), seed=0)
train(config, overwrite=True, progress=False)
model, config = load_run(OUT / "run")
print(f"{model.num_timesteps:,} env steps at c = {model.current_c:.3g}")

# %% [markdown]
# ## The molecules
#
# The tuned model's molecules beside the prior's, scored by the same file (`config.resolved_env_kwargs()`
# holds the run's copy of it).

# %%
env_kwargs = config.resolved_env_kwargs()
tuned = episodes_of(model, ENV_ID, SAMPLES, seed=1, env_kwargs=env_kwargs, progress=False)
prior = episodes_of(None, ENV_ID, SAMPLES, seed=1, env_kwargs=env_kwargs, progress=False)
summary = pd.DataFrame(
    {
        name: {
            "mean score": batch.domain_returns.mean(),
            "valid": batch.finals["valid"].mean(),
            "distinct": len(set(batch.finals["smiles"])) / len(batch.finals["smiles"]),
            "KL(π ‖ prior) per step": batch.kl_per_step,
        }
        for name, batch in (("prior", prior), ("G (tuned)", tuned))
    }
)
display(summary.round(3) + 0.0)  # + 0.0: no '-0.0' for the prior's KL to itself

# %% [markdown]
# The molecule table: one row per molecule, its score and components (as `seqtutor sample` writes
# `samples.csv` and `seqtutor report` shows it, sortable), best first.

# %%
rows = pd.DataFrame(tuned.rows(ENV_ID)).drop_duplicates("smiles")
display(rows.sort_values("domain_return", ascending=False).head(10))

# %%
grid = save_top_molecules(list(tuned.finals["smiles"]), tuned.domain_returns, OUT / "top.png", count=12)
if grid is not None:  # None when no molecule is valid
    display(Image(filename=str(grid)))
