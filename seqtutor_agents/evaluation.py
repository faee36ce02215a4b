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
        written["grid"] = str(save_molecule_grid(smiles[:24], out / "molecules.png", MoleculeScorer()))
    return written


def save_molecule_grid(smiles: list[str], path: Path, scorer) -> Path:
    """An RDKit grid image of molecules with their QED, written atomically."""
    from rdkit import Chem
    from rdkit.Chem import Draw

    from seqtutor_envs.io import atomic_write

    scores = scorer.score(smiles, ("qed",))
    mols = [Chem.MolFromSmiles(s) if v else None for s, v in zip(smiles, scores["valid"])]
    legends = [f"QED {q:.2f}" if v else "invalid" for q, v in zip(scores["qed"], scores["valid"])]
    image = Draw.MolsToGridImage([m if m is not None else Chem.Mol() for m in mols], molsPerRow=6,
                                 subImgSize=(220, 220), legends=legends)
    return atomic_write(path, lambda name: image.save(name, format="PNG"), suffix=".png")


def evaluation_report(batch: EpisodeBatch, env_id: str, label: str) -> tuple[dict[str, Any], str]:
    """``(result dict, markdown table)`` of a batch: Table-1 statistics (melody) or molecule metrics."""
    result: dict[str, Any] = {
        "label": label,
        "env_id": env_id,
        "episodes": int(len(batch.returns)),
        "mean_return": float(batch.returns.mean()),
        "mean_domain_return": float(batch.domain_returns.mean()),
        "prior_log_prob_per_step": batch.prior_log_prob_per_step,
        "kl_per_step": batch.kl_per_step,
        "entropy_per_step": batch.entropy_per_step,
    }
    if env_id == MELODY:
        from seqtutor_envs.melody.stats import composition_statistics, format_statistics_table
        from seqtutor_envs.melody.texture import corpus_sample, format_texture_table, texture_statistics

        compositions = batch.finals["composition"]
        stats = composition_statistics(compositions)
        texture = texture_statistics(compositions)
        corpus = texture_statistics(corpus_sample(len(compositions), compositions.shape[1]))
        result["texture"] = texture
        table = (format_statistics_table({label: stats}, include_paper=True) + "\n\nTexture and diversity (corpus: "
                 "as many 32-step validation windows, each starting on an onset):\n\n"
                 + format_texture_table({label: texture, "corpus": corpus}))
    else:
        from seqtutor_envs.smiles.metrics import format_metrics_table, molecule_metrics

        stats = molecule_metrics(list(batch.finals["smiles"]))
        table = format_metrics_table({label: stats})
    result["statistics"] = stats
    kl = "n/a" if batch.kl_per_step is None else f"{batch.kl_per_step:.4f}"
    table += (f"\n\nMean log p_prior per step: {batch.prior_log_prob_per_step:.3f}; mean KL(pi || prior) per step: {kl}; "
              f"mean domain return: {result['mean_domain_return']:.3f}\n")
    return result, table
