"""The SMILES domain's registry entry: molecule metrics, a .smi file and a grid of the best molecules, settings."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

from ..domains import Domain, parse_targets
from ..io import atomic_write_text
from .tokenizer import Vocabulary

ENV_ID = "SeqTutor-SMILES-v0"

METRIC_KEYS = ("valid", "unique", "intdiv", "logp", "qed", "sa", "ring_penalty", "plogp", "length")
#: What a QED run should keep of the prior's chemistry (fractions).
KEPT_TARGETS = parse_targets("valid >= 0.95; unique >= 0.95; intdiv >= 0.80")

#: Learner settings this domain needs over the learners' own defaults. A terminal reward after ~35 tokens:
#: discounting it (gamma = 0.9 shrinks it by 0.9^35 ~ 0.03) while every step pays log p(a|s) < 0 makes
#: ending early pay (G collapsed to 7-token molecules), so gamma = 1 (the sequence-level E[R/c] - KL), and
#: lambda-returns carry the end reward back to the first token in one update
#: (benchmarks/results/molecule_*.md). Psi acts more sharply than G at the same c (KL 0.14 at c = 0.05 vs
#: G's 0.05 at c = 0.02) and lost internal diversity below 0.80 at c <= 0.05 on seed 0: it gets a larger c.
_SEQUENCE_LEVEL = {"gamma": 1.0, "td_lambda": 0.9}
LEARNER_DEFAULTS: dict[str, dict[str, Any]] = {
    "q": dict(_SEQUENCE_LEVEL),
    "g": dict(_SEQUENCE_LEVEL),
    "psi": {**_SEQUENCE_LEVEL, "env_kwargs": {"c": 0.08}},
}


def statistics(finals: dict[str, Any], reference: Path | None = None) -> dict[str, float]:
    """Validity, uniqueness, internal diversity and mean properties of the molecules.

    :param reference: the SMILES file the prior was trained on: novelty is counted against it (NaN without).
    """
    from .metrics import molecule_metrics

    return molecule_metrics(list(finals["smiles"]), reference=_reference_set(reference) if reference else None)


def report(batches: dict[str, dict[str, Any]], reference: Path | None = None) -> str:
    from .metrics import format_metrics_table

    return format_metrics_table({label: statistics(finals, reference) for label, finals in batches.items()})


@functools.lru_cache(maxsize=2)
def _reference_set(path: Path) -> frozenset[str]:
    """The canonical SMILES of a training file (a prepared ``.smi.gz`` corpus is canonical already)."""
    from .corpus import SmilesCorpus, prepare_corpus, read_smiles_file

    if str(path).endswith(".smi.gz"):
        return frozenset(SmilesCorpus.load(path).smiles)
    return frozenset(prepare_corpus(read_smiles_file(path), progress=False).smiles)


def report_media(finals: dict[str, Any], domain_returns: np.ndarray, scratch: Path, count: int) -> dict[str, Any]:
    """Two molecule grids: the best distinct molecules by the objective, and the first valid ones as sampled."""
    from .samples import save_molecule_grid, save_top_molecules

    smiles = list(finals["smiles"])
    images = []
    top = save_top_molecules(smiles, domain_returns, scratch / "top.png", count=count)
    if top is not None:
        images.append({"title": f"the {count} best distinct molecules by the objective", "png": top.read_bytes()})
    valid = [i for i, s in enumerate(smiles) if s and finals["valid"][i]][:count]
    if valid:  # the sampling order is random: these are a random draw of valid molecules
        grid = save_molecule_grid(
            [smiles[i] for i in valid], [f"objective {domain_returns[i]:.3f}" for i in valid], scratch / "random.png"
        )
        images.append(
            {"title": f"{len(valid)} valid molecules in sampling order (a random draw)", "png": grid.read_bytes()}
        )
    return {"players": [], "images": images, "table": True}


#: Episode-end properties a molecule row carries, when the env reported them.
_ROW_PROPERTIES = ("qed", "sa", "logp", "plogp")


def row_columns(final: Any) -> dict[str, Any]:
    """A molecule's row: SMILES, validity, length, Bemis-Murcko scaffold, the objective's terms, a scoring
    file's stage, score and components (``<name>`` transformed, ``<name> (raw)``, as REINVENT 4's CSV), its
    properties."""
    smiles = final.get("smiles") or ""
    valid = bool(final.get("valid", False))
    row: dict[str, Any] = {
        "smiles": smiles,
        "valid": int(valid),
        "length": final.get("length", ""),
        "scaffold": _scaffold(smiles) if valid else "",
    }
    for name, value in (final.get("reward_terms") or {}).items():
        row[f"score_{name}"] = float(np.asarray(value))
    if "stage" in final:
        row["stage"] = int(final["stage"])
    if "score" in final:
        row["score"] = float(final["score"])
    raw = final.get("components_raw") or {}
    for name, value in (final.get("components") or {}).items():
        row[name] = float(value)
        row[f"{name} (raw)"] = float(raw.get(name, np.nan))
    for name in _ROW_PROPERTIES:
        if name in final:
            row[name] = float(final[name])
    return row


@functools.lru_cache(maxsize=100_000)
def _scaffold(smiles: str) -> str:
    from rdkit import Chem
    from rdkit.Chem.Scaffolds import MurckoScaffold

    mol = Chem.MolFromSmiles(smiles)
    return MurckoScaffold.MurckoScaffoldSmiles(mol=mol) if mol is not None else ""


def training_data(metadata: Any) -> Path | None:
    """The SMILES a prior was trained on (its metadata's ``data``), if the file is at hand: a user's file, or
    the prepared MOSES corpus that ``seqtutor pretrain smiles`` caches (:func:`.corpus.default_cache_dir`)."""
    from .corpus import default_cache_dir

    data = dict(metadata.get("data", {})) if metadata else {}
    for key in ("corpus_path", "corpus"):
        value = data.get(key)
        if isinstance(value, str) and value.startswith("MOSES train"):
            cached = default_cache_dir() / "moses_train_canonical.smi.gz"
            return cached if cached.is_file() else None
        if value and Path(value).is_file():
            return Path(value)
    return None


def write_samples(finals: dict[str, Any], domain_returns: np.ndarray, out: Path, label: str) -> dict[str, Any]:
    """The SMILES, one per line, and an RDKit grid of the best distinct molecules by the env's objective."""
    from .samples import save_top_molecules

    smiles = list(finals["smiles"])
    return {
        "smiles": str(atomic_write_text(out / "samples.smi", "\n".join(smiles) + "\n")),
        "grid": str(
            save_top_molecules(smiles, domain_returns, out / "top_molecules.png") or "none (no valid molecule)"
        ),
    }


#: Samples behind the quality line printed after pre-training, and the validity below which it warns.
QUALITY_SAMPLES, QUALITY_MIN_VALID = 1_000, 0.5


def prior_quality(prior_path: Path, data: Any, window: int = 0) -> tuple[str, str | None]:
    """Valid / unique / novel shares of 1,000 samples of a freshly trained prior (novel: not in ``data``),
    and a warning when fewer than half are valid SMILES."""
    import torch

    from ..prior import LSTMPrior
    from .env import DEFAULT_MAX_LENGTH, default_prior_path
    from .metrics import molecule_metrics

    prior, meta = LSTMPrior.load(prior_path)
    vocab, data_vocab = Vocabulary.from_json(meta["vocabulary"]), Vocabulary.from_json(data.metadata["vocabulary"])
    tokens = prior.sample(
        torch.full((QUALITY_SAMPLES,), vocab.bos_id),
        DEFAULT_MAX_LENGTH,
        generator=torch.Generator().manual_seed(0),
        stop_token=vocab.end_id,
    )
    smiles = [vocab.decode(row) for row in tokens.numpy()]
    seen = [data_vocab.decode(seq) for seq in (*data.train, *data.valid)]  # the corpus is RDKit-canonical
    m = molecule_metrics(smiles, reference=seen, reference_is_canonical=True)
    line = (
        f"prior quality ({QUALITY_SAMPLES:,} samples): valid {m['valid']:.1%}, unique {m['unique']:.1%}, "
        f"novel {m['novel']:.1%}"
    )
    if m["valid"] >= QUALITY_MIN_VALID:
        return line, None
    return line, (
        f"only {m['valid']:.1%} of this prior's samples are valid SMILES (< {QUALITY_MIN_VALID:.0%}): it "
        f"would tutor poorly. Train on more molecules, or fine-tune the shipped prior on yours: "
        f"--init-from {default_prior_path()}"
    )


def pretrain_data(corpus_path: str | None = None, **options: Any) -> Any:
    from .corpus import pretrain_data as load

    return load(corpus_path, **options)


SMILES = Domain(
    name="smiles",
    env_id=ENV_ID,
    sequence_key="smiles",
    statistics=statistics,
    report=report,
    write_samples=write_samples,
    metric_keys=METRIC_KEYS,
    targets={"kept": KEPT_TARGETS},
    pretrain_data=pretrain_data,
    learner_defaults=LEARNER_DEFAULTS,
    training_data=training_data,
    row_columns=row_columns,
    report_media=report_media,
    prior_quality=prior_quality,
    default_architecture={"hidden_size": 256, "num_layers": 2, "embedding_dim": 64},
)
