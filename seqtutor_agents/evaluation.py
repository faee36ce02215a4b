"""Trained models as batched policies, and the sample / evaluate jobs behind the CLI.

:func:`model_policy` turns a model into the :data:`~seqtutor_envs.evaluation.ActFn` that
:func:`seqtutor_envs.evaluation.run_episodes` plays. Every policy reports its full action
distribution so that KL(π ‖ prior) is exact:

* seqtutor learners (any policy with ``recurrent_log_probs``): the acting distribution, LSTM state
  carried per env;
* PPO / A2C: the actor's categorical distribution; RecurrentPPO: the same, LSTM state carried;
* DQN / QR-DQN: epsilon-greedy on the Q-values with the final exploration rate, as ``predict`` samples it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.policies import ActorCriticPolicy

from seqtutor_envs.evaluation import ActFn, EpisodeBatch, log_softmax, prior_policy, run_episodes, sample_categorical

MELODY = "SeqTutor-Melody-v0"


def model_policy(model: BaseAlgorithm, seed: int = 0, deterministic: bool = False) -> ActFn:
    """An :data:`ActFn` sampling from a trained model (greedy if ``deterministic``)."""
    rng = np.random.default_rng(seed)
    th.manual_seed(seed)
    policy = model.policy
    policy.set_training_mode(False)
    device = policy.device

    def choose(log_pi: np.ndarray) -> np.ndarray:
        return log_pi.argmax(1) if deterministic else sample_categorical(log_pi, rng)

    def as_tensors(obs: dict[str, np.ndarray]) -> dict[str, th.Tensor]:
        return {k: th.as_tensor(v, device=device) for k, v in obs.items()}

    if hasattr(policy, "recurrent_log_probs"):
        state: list = [None]

        def act(obs, episode_start):
            n = len(episode_start)
            if state[0] is None or state[0][0].shape[1] != n:
                state[0] = policy.initial_state(n)
            with th.no_grad():
                log_pi, state[0] = policy.recurrent_log_probs(
                    as_tensors(obs), state[0], th.as_tensor(episode_start, device=device))
            log_pi = log_softmax(log_pi.cpu().numpy().astype(np.float64))
            return choose(log_pi), log_pi

        return act

    if type(policy).__name__.startswith("Recurrent") and hasattr(policy, "lstm_hidden_state_shape"):
        lstm: list = [None]

        def act(obs, episode_start):
            n = len(episode_start)
            if lstm[0] is None or lstm[0][0].shape[1] != n:
                layers, _, hidden = policy.lstm_hidden_state_shape
                lstm[0] = (th.zeros(layers, n, hidden, device=device), th.zeros(layers, n, hidden, device=device))
            obs_t, _ = policy.obs_to_tensor(obs)
            starts = th.as_tensor(episode_start, dtype=th.float32, device=device)
            with th.no_grad():
                dist, lstm[0] = policy.get_distribution(obs_t, lstm[0], starts)
            log_pi = log_softmax(dist.distribution.logits.cpu().numpy().astype(np.float64))
            return choose(log_pi), log_pi

        return act

    if isinstance(policy, ActorCriticPolicy):

        def act(obs, episode_start):
            obs_t, _ = policy.obs_to_tensor(obs)
            with th.no_grad():
                logits = policy.get_distribution(obs_t).distribution.logits
            log_pi = log_softmax(logits.cpu().numpy().astype(np.float64))
            return choose(log_pi), log_pi

        return act

    if hasattr(model, "exploration_final_eps"):  # DQN, QR-DQN: epsilon-greedy on their greedy action
        eps = 0.0 if deterministic else float(model.exploration_final_eps)

        def act(obs, episode_start):
            obs_t, _ = policy.obs_to_tensor(obs)
            with th.no_grad():
                greedy = policy._predict(obs_t, deterministic=True).cpu().numpy().reshape(-1)
            n_actions = int(model.action_space.n)
            pi = np.full((len(greedy), n_actions), eps / n_actions)
            pi[np.arange(len(pi)), greedy] += 1.0 - eps
            log_pi = np.log(np.maximum(pi, 1e-300))
            return (sample_categorical(log_pi, rng) if eps > 0 else greedy), log_pi

        return act

    raise TypeError(f"no evaluation policy for {type(model).__name__}")


# ---------------------------------------------------------------------- jobs behind the CLI
def episodes_of(model: BaseAlgorithm | None, env_id: str, n: int, seed: int, env_kwargs: dict[str, Any],
                progress: bool = True) -> EpisodeBatch:
    """``n`` episodes of a model (or of the env's prior, when ``model`` is None)."""
    act = prior_policy(seed=seed) if model is None else model_policy(model, seed=seed)
    return run_episodes(env_id, n, act, seed=seed, env_kwargs=env_kwargs, progress=progress)


def write_samples(batch: EpisodeBatch, env_id: str, out: Path, label: str) -> dict[str, Any]:
    """Write a batch's samples: MIDI + WAV files and a piano roll (melody), or a .smi file and a molecule grid."""
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Any] = {"label": label, "env_id": env_id}
    if env_id == MELODY:
        from seqtutor_envs.melody.audio import synthesis_backend, write_wavs
        from seqtutor_envs.melody.midi import save_piano_roll_png, write_midis

        compositions = batch.finals["composition"]
        written["midi"] = [str(p) for p in write_midis(compositions, out, prefix="sample")]
        written["wav"] = [str(p) for p in write_wavs(compositions, out, prefix="sample")]
        written["audio synthesis"] = synthesis_backend()
        written["piano_roll"] = str(save_piano_roll_png(compositions[:16], out / "piano_roll.png"))
    else:
        from seqtutor_envs.io import atomic_write_text
        from seqtutor_envs.smiles.scoring import MoleculeScorer

        smiles = list(batch.finals["smiles"])
        written["smiles"] = str(atomic_write_text(out / "samples.smi", "\n".join(smiles) + "\n"))
        written["grid"] = str(save_top_molecules(smiles, batch.domain_returns, out / "top_molecules.png", MoleculeScorer()))
    return written


def save_top_molecules(smiles: list[str], objective: np.ndarray, path: Path, scorer, count: int = 24) -> Path:
    """An RDKit grid of the ``count`` best distinct valid molecules by the env's objective, written atomically.

    :param objective: each molecule's domain return (the env's objective, e.g. QED or a GuacaMol score).
    """
    from rdkit.Chem import Draw

    from seqtutor_envs.io import atomic_write
    from seqtutor_envs.smiles.scoring import parse_smiles

    canonical = scorer.canonical_batch(smiles)
    best: dict[str, float] = {}
    for canon, value in zip(canonical, objective):
        if canon is not None and value > best.get(canon, -np.inf):
            best[canon] = float(value)
    top = sorted(best.items(), key=lambda kv: -kv[1])[:count]
    qed = scorer.score([c for c, _ in top], ("qed",))["qed"] if top else []
    image = Draw.MolsToGridImage([parse_smiles(c) for c, _ in top], molsPerRow=6, subImgSize=(220, 220),
                                 legends=[f"objective {v:.3f} | QED {q:.2f}" for (_, v), q in zip(top, qed)])
    return atomic_write(path, lambda name: image.save(name, format="PNG"), suffix=".png")


def _summary(batch: EpisodeBatch) -> dict[str, Any]:
    return {"episodes": int(len(batch.returns)), "mean_return": float(batch.returns.mean()),
            "mean_domain_return": float(batch.domain_returns.mean()),
            "prior_log_prob_per_step": batch.prior_log_prob_per_step, "kl_per_step": batch.kl_per_step,
            "entropy_per_step": batch.entropy_per_step}


def evaluation_report(batch: EpisodeBatch, env_id: str, label: str, prior: EpisodeBatch | None = None
                      ) -> tuple[dict[str, Any], str]:
    """``(result dict, markdown)`` of a batch beside the prior's (when given): the domain objective,
    KL and log p per step, then Table-1 statistics and texture (melody) or molecule metrics (SMILES).
    """
    batches = {label: batch, **({"prior": prior} if prior is not None else {})}
    result: dict[str, Any] = {"label": label, "env_id": env_id, **_summary(batch)}
    if prior is not None:
        result["prior"] = _summary(prior)
    lines = ["| | " + " | ".join(batches) + " |", "|---|" + "---:|" * len(batches)]
    for key, name, fmt in (("mean_domain_return", "domain objective (mean per episode)", "{:.3f}"),
                           ("kl_per_step", "KL(π ‖ prior) per step", "{:.4f}"),
                           ("entropy_per_step", "entropy per step", "{:.3f}"),
                           ("prior_log_prob_per_step", "log p_prior per step", "{:.3f}")):
        cells = [_summary(b)[key] for b in batches.values()]
        lines.append(f"| {name} | " + " | ".join("n/a" if v is None else fmt.format(v) for v in cells) + " |")
    table = "\n".join(lines) + "\n\n"
    if env_id == MELODY:
        from seqtutor_envs.melody.stats import composition_statistics, format_statistics_table
        from seqtutor_envs.melody.texture import corpus_sample, format_texture_table, texture_statistics

        compositions = {name: b.finals["composition"] for name, b in batches.items()}
        stats = {name: composition_statistics(c) for name, c in compositions.items()}
        texture = {name: texture_statistics(c) for name, c in compositions.items()}
        comps = compositions[label]
        texture["corpus"] = texture_statistics(corpus_sample(len(comps), comps.shape[1]))
        result["texture"] = texture[label]
        table += (format_statistics_table(stats, include_paper=True) + "\n\nTexture and diversity (corpus: as many "
                  "32-step validation windows, each starting on an onset):\n\n" + format_texture_table(texture))
    else:
        from seqtutor_envs.smiles.metrics import format_metrics_table, molecule_metrics

        stats = {name: molecule_metrics(list(b.finals["smiles"])) for name, b in batches.items()}
        table += format_metrics_table(stats)
    result["statistics"] = stats[label]
    return result, table + "\n"
