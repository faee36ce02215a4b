"""Molecule metrics of samples from the shipped SMILES prior, next to MOSES CharRNN's published figures.

Samples SMILES from the prior on ``SeqTutor-SMILES-v0`` (BOS, then tokens from the prior until END
or the length limit) and reports validity, uniqueness, novelty against the MOSES training set,
internal diversity, mean length and mean logP / QED / SA / ring penalty. Writes
``benchmarks/results/smiles_prior_stats.md``.

    python -m benchmarks.smiles_stats                 # 10,000 samples
    python -m benchmarks.smiles_stats -n 2000 --no-novelty
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import seqtutor_envs  # noqa: F401
from benchmarks.common import (
    RESULTS_DIR,
    total_training_minutes,
    training_chain,
    write_results,
    write_text,
)
from seqtutor_agents.runs.evaluation import run_episodes
from seqtutor_envs.prior import LSTMPrior
from seqtutor_envs.sampling import prior_policy
from seqtutor_envs.smiles.env import default_prior_path
from seqtutor_envs.smiles.metrics import (
    format_metrics_table,
    invalid_reasons,
    molecule_metrics,
)


def training_smiles() -> list[str]:
    """The canonical MOSES training set the shipped prior was trained on (prepared and cached once)."""
    from seqtutor_envs.smiles.corpus import (
        SmilesCorpus,
        default_cache_dir,
        moses_corpus,
    )

    cached = default_cache_dir() / "moses_train_canonical.smi.gz"
    if cached.is_file():
        return SmilesCorpus.load(cached).smiles
    corpus = moses_corpus("train", workers=2)
    corpus.save(cached)
    return corpus.smiles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--num", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-novelty", action="store_true", help="skip novelty (needs the MOSES train set)")
    parser.add_argument("--out", default=str(RESULTS_DIR / "smiles_prior_stats.md"))
    args = parser.parse_args()

    start = time.perf_counter()
    batch = run_episodes("SeqTutor-SMILES-v0", args.num, prior_policy(args.seed), seed=args.seed, progress=True)
    smiles = list(batch.finals["smiles"])
    sampled = time.perf_counter() - start
    reference = None if args.no_novelty else training_smiles()
    metrics = molecule_metrics(smiles, reference=reference, reference_is_canonical=True)
    _, meta = LSTMPrior.load(default_prior_path())
    table = format_metrics_table({"shipped SMILES prior (ours)": metrics})
    reasons = invalid_reasons(smiles)
    metrics["invalid_reasons"] = reasons
    n_invalid = max(1, sum(reasons.values()))
    why = ", ".join(f"{k} {v:,} ({100 * v / n_invalid:.0f} %)" for k, v in reasons.items())
    out = Path(args.out)
    text = write_results(
        out,
        "Samples of the shipped SMILES prior",
        (
            f"{table}\n"
            f"{len(smiles):,} samples (sampled in {sampled:.0f} s); mean log p_prior per token "
            f"{batch.prior_log_prob_per_step:.3f}. Prior: validation NLL/token {meta['validation']['nll_per_token']}, "
            f"accuracy {meta['validation']['accuracy']}, trained {total_training_minutes(meta):.0f} min in "
            f"{len(training_chain(meta))} run(s) (commands in `benchmarks/results/priors.md`). Unique is among valid "
            "samples; novelty is the share of unique valid molecules absent from the canonical MOSES training set.\n\n"
            f"Why the invalid samples fail RDKit: {why}.\n"
        ),
    )
    print(text)
    write_text(out.with_suffix(".json"), json.dumps(metrics, indent=2, default=float))


if __name__ == "__main__":
    main()
