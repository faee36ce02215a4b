"""What seqtutor knows about each domain beyond its env class, by env id: one registry, no env-id branches elsewhere.

A :class:`Domain` says how to pre-train a prior for it, what statistics its finished sequences
have, how to write samples a person can look at or listen to, which figures a sweep reports,
its target sets, and the learner settings it needs. The melody and SMILES domains register
themselves when :mod:`seqtutor_envs` is imported; a third domain registers its env with
Gymnasium and its :class:`Domain` with :func:`register_domain`, and the learners, the CLI,
evaluation and sweeps then work on it unchanged::

    register(id="MyDomain-v0", entry_point=..., vector_entry_point=...)
    register_domain(Domain(name="mydomain", env_id="MyDomain-v0", sequence_key="sequence", ...))

Every callable may import what it needs lazily, so registering costs nothing at import time.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: A target: ``(figure, comparison, bound)``, e.g. ``("notes_not_in_key", "<=", 1.0)``.
Target = tuple[str, str, float]
_COMPARISONS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}


def meets(figures: Mapping[str, Any], target: Target) -> bool:
    """Whether ``figures[name] <comparison> bound`` holds (False when the figure is missing or NaN)."""
    name, comparison, bound = target
    value = figures.get(name)
    try:
        value = float(value)  # type: ignore[arg-type]  # None on purpose: its TypeError is a missing figure
    except (TypeError, ValueError):
        return False
    return not np.isnan(value) and _COMPARISONS[comparison](value, bound)


def parse_targets(text: str) -> tuple[Target, ...]:
    """Targets from ``"figure <= bound; figure >= bound; ..."`` (how domains write them down)."""
    targets = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, comparison, bound = part.split()
        if comparison not in _COMPARISONS:
            raise ValueError(f"unknown comparison {comparison!r} in target {part!r}")
        targets.append((name, comparison, float(bound)))
    return tuple(targets)


def format_targets(targets: tuple[Target, ...]) -> str:
    return ", ".join(f"{name} {comparison} {bound:g}" for name, comparison, bound in targets)


@dataclass(frozen=True)
class Domain:
    """A domain's registry entry (see the module docstring).

    ``finals`` below is what evaluation collects: episode-end info keys -> one value per episode
    (e.g. ``"composition"`` -> an ``(N, L)`` array, ``"smiles"`` -> a list of strings).
    """

    name: str  # short name, e.g. "melody" (``seqtutor pretrain <name>``)
    env_id: str  # the registered Gymnasium id
    sequence_key: str  # episode-end info key holding the finished sequence ("composition", "smiles")
    statistics: Callable[[dict[str, Any]], dict[str, float]]  # finals -> flat figures (metric_keys among them)
    report: Callable[[dict[str, dict[str, Any]]], str]  # {label: finals} -> markdown tables side by side
    write_samples: Callable[
        [dict[str, Any], np.ndarray, Path, str], dict[str, Any]
    ]  # (finals, domain returns, folder, label)
    metric_keys: tuple[str, ...] = ()  # the figures a sweep puts in its table
    targets: Mapping[str, tuple[Target, ...]] = field(default_factory=dict)  # named target sets
    pretrain_data: Callable[..., Any] | None = None  # (corpus path or None, **options) -> PretrainData
    default_architecture: Mapping[str, Any] = field(default_factory=dict)  # PriorConfig fields of its prior
    learner_defaults: Mapping[str, Mapping[str, Any]] = field(
        default_factory=dict
    )  # algo -> settings over the learners'
    # prior metadata -> the file its prior was trained on, if at hand; statistics and report then take it as
    # ``reference=`` (the corpus a sample is compared with, the set novelty is counted against)
    training_data: Callable[[Mapping[str, Any]], Path | None] | None = None
    # one finished episode's end info -> the columns of its row in a run's sequences.csv / samples.csv
    row_columns: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None
    # (finals, domain returns, scratch folder, how many) -> what a report page shows of the samples, as bytes:
    # {"players": [{title, image_png, audio_wav, midi, midi_name}], "images": [{title, png}], "table": bool (a sortable
    # table of every sample)}
    report_media: Callable[[dict[str, Any], np.ndarray, Path, int], dict[str, Any]] | None = None
    report_optimum_samples: int = 0  # prior samples behind π* in a report (0: none; π* of this domain is costly)
    # (saved prior, the PretrainData it was trained on, window) -> a one-line quality figure printed after
    # `seqtutor pretrain`, and a warning (or None) when the prior is too weak to tutor
    prior_quality: Callable[[Path, Any, int], tuple[str, str | None]] | None = None

    def episode_row(self, final: Mapping[str, Any]) -> dict[str, Any]:
        """The CSV columns of one finished episode (:attr:`row_columns`, else the sequence as text)."""
        if self.row_columns is not None:
            return self.row_columns(final)
        value = final.get(self.sequence_key)
        text = value if isinstance(value, str) else " ".join(str(int(t)) for t in np.asarray(value).ravel())
        return {self.sequence_key: text}


_DOMAINS: dict[str, Domain] = {}


def register_domain(domain: Domain) -> Domain:
    """Add (or replace) a domain, keyed by its env id."""
    _DOMAINS[domain.env_id] = domain
    return domain


def unregister_domain(env_id: str) -> None:
    _DOMAINS.pop(env_id, None)


def domains() -> dict[str, Domain]:
    """The registered domains by env id."""
    return dict(_DOMAINS)


def env_ids() -> tuple[str, ...]:
    return tuple(_DOMAINS)


def get_domain(env_id: str) -> Domain:
    """The domain of ``env_id``; a ``KeyError`` listing the registered ones if there is none."""
    try:
        return _DOMAINS[env_id]
    except (KeyError, TypeError):
        raise KeyError(f"{env_id!r} is not a seqtutor env; registered: {', '.join(_DOMAINS) or 'none'}") from None


def domain_named(name: str) -> Domain:
    """The domain whose short name is ``name`` (``"melody"``, ``"smiles"``)."""
    for domain in _DOMAINS.values():
        if domain.name == name:
            return domain
    raise KeyError(f"no seqtutor domain named {name!r}; registered: {', '.join(d.name for d in _DOMAINS.values())}")
