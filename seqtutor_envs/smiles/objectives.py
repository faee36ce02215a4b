"""The SMILES env's domain rewards, by name: presets, GuacaMol/PMO oracles, scoring files, or your own function.

:func:`make_objective` builds one from a name (``"qed"``, ``"plogp"``, ``"paper"``, a registered
family such as ``"guacamol:<oracle>"`` or ``"file:<scoring file>"``), a callable ``f(mol) -> float`` or an
:class:`Objective`.
Families are registered with :func:`register_objective_family` (the GuacaMol/PMO oracles of
:mod:`.guacamol` here); the base class lives in :mod:`.objective`, so the families import it, not
this module.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, MutableMapping, Sequence
from typing import Any

import numpy as np
from rdkit import Chem

from .guacamol import GUACAMOL_PREFIX, guacamol_objective
from .objective import Objective, ObjectiveError
from .scoring import INVALID_VALUES, PROPERTIES, LRUCache, MoleculeScorer, parse_smiles
from .scoring_file import SCORING_FILE_PREFIX, scoring_file_objective

# ---- paper preset constants (Jaques et al. 2017, the authors' SMILES code: smiles_tutor.py and
# the reward_values of rl_tutor_train.py) ----------------------------------------------------------
PAPER_REWARD_SCALER = 0.35
"""The paper's ``reward_scaler``: the domain reward is multiplied by it, i.e. ``1/c``. An env
using the per-step reward ``log p_prior(a|s) + r_domain / c`` reproduces the authors with
``c = PAPER_C``."""
PAPER_C = 1.0 / PAPER_REWARD_SCALER
PAPER_WEIGHTS = {"logp": 3.0, "ring_penalty": 5.0, "qed": 40.0, "sa": -2.0}
PAPER_VALID_PREFIX_BONUS = 5.0
PAPER_END_VALID_BONUS = 600.0
PAPER_SHORT_BELOW = 19  # training_data_min of the authors' ZINC set
PAPER_SHORT_PENALTY = -200.0
PAPER_SHORTISH_BELOW = 45.82 - 2 * 9.37  # mean - 2 std of the authors' ZINC lengths = 27.08
PAPER_SHORTISH_PENALTY = -25.0


# ------------------------------------------------------------------------------------------------
# Objectives (domain rewards)
# ------------------------------------------------------------------------------------------------


def paper_length_penalty(length: np.ndarray | int) -> np.ndarray:
    """The authors' length penalty: -200 below 19, -25 below 27.08 (i.e. 19..27), else 0.

    :param length: SMILES length(s), END excluded (characters by default, see :class:`PaperObjective`).
    """
    n = np.asarray(length, dtype=np.float64)
    shortish = np.where(n < PAPER_SHORTISH_BELOW, PAPER_SHORTISH_PENALTY, 0.0)
    return np.where(n < PAPER_SHORT_BELOW, PAPER_SHORT_PENALTY, shortish)


class PaperObjective(Objective):
    """The molecule reward of Sequence Tutor's SMILES code (``SmilesTutor.collect_domain_reward``).

    ``score(m) = 3 logP + 5 ring_penalty + 40 QED - 2 SA``

    * non-final step, prefix valid: ``5 + score(prefix)``; prefix invalid: 0;
    * final step, valid: ``score + length_penalty + 600``; invalid: ``length_penalty``.

    Differences from the authors' code, on purpose: (1) the authors scored the prefix *before*
    the current token (one step late: prefixes of length 0..T-1 of a T-token molecule, so the
    complete molecule never earned the prefix bonus); here the env passes the prefix including the
    current token (lengths 1..T). To replicate them exactly, pass the previous prefix instead.
    (2) Their ring penalty used networkx's cycle basis, here RDKit's ring perception (equal on
    ordinary molecules). (3) Their length limit (120 tokens) also counted as an end: that is the
    environment's call, which should then use ``score_final`` on the truncated string.
    (4) ``any_invalid_penalty`` (-5) and ``repeated_C_penalty`` (-150) existed in their reward
    values but were not used by this reward, so they are absent here.

    Length unit: the authors' model was character-level (35 characters), and the thresholds 19 and
    27.08 (= 45.82 - 2 x 9.37) are character statistics of their ZINC set, so by default the
    length is ``len(smiles)`` in characters, END excluded. ``length_unit="tokens"`` counts regex
    tokens instead (``Cl``, ``[nH]`` count once); on MOSES the two differ little (mean 35.9 chars,
    35.4 tokens).

    The env should weight this reward with ``1/c = PAPER_REWARD_SCALER = 0.35``.

    :param scorer: shared :class:`MoleculeScorer` (a fresh one if ``None``).
    :param length_unit: ``"chars"`` (default) or ``"tokens"``.
    """

    name = "paper"
    properties = ("logp", "qed", "sa", "ring_penalty")
    has_prefix_shaping = True
    invalid_value = 0.0  # plus the length penalty, at the end

    def __init__(self, scorer: MoleculeScorer | None = None, length_unit: str = "chars") -> None:
        super().__init__(scorer)
        if length_unit not in ("chars", "tokens"):
            raise ValueError(f"length_unit must be 'chars' or 'tokens', got {length_unit!r}")
        self.length_unit = length_unit

    def molecule_score(self, smiles: Sequence[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``(score, scorer output)``; score is 0 for invalid molecules."""
        s = self.scorer.score(smiles, ("logp", "qed", "sa", "ring_penalty"))
        w = PAPER_WEIGHTS
        score = sum(w[k] * s[k] for k in ("logp", "ring_penalty", "qed", "sa"))
        return np.where(s["valid"], score, 0.0), s

    def _lengths(self, smiles: Sequence[str], scored: dict[str, np.ndarray]) -> np.ndarray:
        if self.length_unit == "tokens":
            return scored["length"]
        return np.array([len(x) if isinstance(x, str) else 0 for x in smiles], dtype=np.int64)

    def score_final(self, smiles: Sequence[str]) -> np.ndarray:
        score, s = self.molecule_score(smiles)
        penalty = paper_length_penalty(self._lengths(smiles, s))
        return np.where(s["valid"], score + penalty + PAPER_END_VALID_BONUS, penalty)

    def score_prefix(self, smiles: Sequence[str]) -> np.ndarray:
        score, s = self.molecule_score(smiles)
        return np.where(s["valid"], PAPER_VALID_PREFIX_BONUS + score, 0.0)


class PropertyObjective(Objective):
    """One scorer property of the final molecule, ``invalid_value`` for an invalid one.

    :param prop: a name in :data:`PROPERTIES`.
    :param invalid_value: reward of an invalid final SMILES.
    """

    def __init__(
        self, prop: str, invalid_value: float, scorer: MoleculeScorer | None = None, name: str | None = None
    ) -> None:
        super().__init__(scorer)
        if prop not in PROPERTIES:
            raise ValueError(f"unknown property {prop!r}; choose from {PROPERTIES}")
        self.prop = prop
        self.invalid_value = float(invalid_value)
        self.name = name or prop
        # plogp is logP - SA + ring penalty: its parts are computed anyway, so they are reported too
        self.properties = ("logp", "sa", "ring_penalty", "plogp") if prop == "plogp" else (prop,)

    def score_final(self, smiles: Sequence[str]) -> np.ndarray:
        s = self.scorer.score(smiles, (self.prop,))
        return np.where(s["valid"], s[self.prop], self.invalid_value)


class CallableObjective(Objective):
    """A user function ``f(mol) -> float`` of the RDKit molecule of the final SMILES.

    ``f`` is called once per canonical molecule (results are cached) and never for an invalid
    SMILES, which gets ``invalid_value``. If ``f`` raises or returns NaN/inf or a non-number, what
    happens is ``on_error``'s choice: ``"raise"`` (default) raises :class:`ObjectiveError` naming
    the objective, the SMILES and the cause; ``"invalid"`` scores that molecule as invalid
    (``invalid_value``), counts it in :attr:`error_count`, keeps the first messages in
    :attr:`errors`, marks it in :attr:`last_errors` and warns once.

    :param fn: the function.
    :param invalid_value: reward of an invalid final SMILES.
    :param name: display name (default ``fn.__name__``).
    :param cache_size: entries of the per-molecule value cache.
    :param on_error: ``"raise"`` or ``"invalid"``.
    """

    ON_ERROR = ("raise", "invalid")
    KEPT_ERRORS = 10

    def __init__(
        self,
        fn: Callable[[Chem.Mol], float],
        invalid_value: float = 0.0,
        scorer: MoleculeScorer | None = None,
        name: str | None = None,
        cache_size: int | None = 500_000,
        on_error: str = "raise",
    ) -> None:
        super().__init__(scorer)
        if not callable(fn):
            raise TypeError(f"objective must be callable, got {fn!r}")
        if on_error not in self.ON_ERROR:
            raise ValueError(f"objective_errors must be one of {self.ON_ERROR}, got {on_error!r}")
        self.fn = fn
        self.invalid_value = float(invalid_value)
        self.name = name or getattr(fn, "__name__", None) or repr(fn)
        self.on_error = on_error
        self.error_count = 0
        self.errors: list[str] = []
        self.last_errors = np.zeros(0, dtype=bool)
        self._cache: MutableMapping[Any, Any] = LRUCache(cache_size)

    def score_final(self, smiles: Sequence[str]) -> np.ndarray:
        out = np.full(len(smiles), self.invalid_value, dtype=np.float64)
        failed = np.zeros(len(smiles), dtype=bool)
        for j, s in enumerate(smiles):
            canon = self.scorer.canonical(s)
            if canon is None:
                continue
            v = self._cache.get(canon)
            if v is None:
                try:
                    v = self._evaluate(s, canon)
                except ObjectiveError as exc:
                    if self.on_error == "raise":
                        raise
                    failed[j] = True
                    self._count(str(exc))
                    continue
                self._cache[canon] = v
            out[j] = v
        self.last_errors = failed
        return out

    def _count(self, message: str) -> None:
        if self.error_count == 0:
            warnings.warn(
                f"{message}; scored as invalid ({self.invalid_value:g}) and counted, as "
                "objective_errors='invalid' asks (later errors are counted silently)",
                stacklevel=4,
            )
        self.error_count += 1
        if len(self.errors) < self.KEPT_ERRORS:
            self.errors.append(message)

    def _evaluate(self, raw: str, canon: str) -> float:
        mol = parse_smiles(canon)
        where = f"objective {self.name!r} on SMILES {raw!r}"
        if canon != raw:
            where += f" (canonical {canon!r})"
        if mol is None:
            raise ObjectiveError(f"{where}: RDKit cannot re-read the canonical SMILES")
        try:
            v = self.fn(mol)
        except Exception as exc:
            raise ObjectiveError(f"{where} raised {type(exc).__name__}: {exc}") from exc
        try:
            fv = float(v)
        except (TypeError, ValueError) as exc:
            raise ObjectiveError(f"{where} returned {v!r}, which is not a number") from exc
        if not math.isfinite(fv):
            raise ObjectiveError(f"{where} returned {fv}, not a finite number")
        return fv


#: Objectives built by name (``make_objective("qed")``): name -> factory(scorer=..., **kwargs).
_NAMED: dict[str, Callable[..., Objective]] = {}
#: Families of objectives built by a prefixed name (``"guacamol:<oracle>"``):
#: prefix -> factory(name, scorer=..., **kwargs).
_FAMILIES: dict[str, Callable[..., Objective]] = {}


def register_objective(name: str, factory: Callable[..., Objective]) -> None:
    """Make ``make_objective(name)`` build ``factory(scorer=..., **kwargs)`` (names are case-insensitive)."""
    _NAMED[name.lower()] = factory


def register_objective_family(prefix: str, factory: Callable[..., Objective]) -> None:
    """Make ``make_objective(prefix + name)`` build ``factory(name, scorer=..., **kwargs)``."""
    _FAMILIES[prefix.lower()] = factory


def objective_names() -> tuple[str, ...]:
    """Registered names, and each family as ``prefix<name>``."""
    return tuple(_NAMED) + tuple(f"{prefix}<name>" for prefix in _FAMILIES)


def is_known_objective(name: str) -> bool:
    """Whether ``name`` is a registered name or starts with a registered family's prefix."""
    key = name.strip().lower()
    return key in _NAMED or any(key.startswith(prefix) for prefix in _FAMILIES)


def _property_objective(prop: str) -> Callable[..., Objective]:
    def build(scorer: MoleculeScorer | None = None, **kwargs: Any) -> Objective:
        kwargs.setdefault("invalid_value", INVALID_VALUES[prop])
        return PropertyObjective(prop, scorer=scorer, **kwargs)

    return build


register_objective("paper", PaperObjective)
# qed invalid = 0: the infimum of QED (valid ones are > 0). plogp invalid = -10: below every molecule of a 20k
# sample of the MOSES test set (min -7.9, 0.1 % quantile -4.6); valid molecules with big macrocycles can
# still score lower (each ring atom beyond 6 costs 1).
register_objective("qed", _property_objective("qed"))
register_objective("plogp", _property_objective("plogp"))
register_objective_family(GUACAMOL_PREFIX, guacamol_objective)
register_objective_family(SCORING_FILE_PREFIX, scoring_file_objective)
OBJECTIVE_PRESETS = ("paper", "qed", "plogp")


def make_objective(
    name_or_callable: str | Callable[[Chem.Mol], float] | Objective,
    scorer: MoleculeScorer | None = None,
    **kwargs: Any,
) -> Objective:
    """Build a domain objective.

    :param name_or_callable: a registered name (``"paper"``: :class:`PaperObjective`; ``"qed"``: QED,
        0 if invalid; ``"plogp"``: penalised logP, -10 if invalid), a registered family's prefixed name
        (``"guacamol:<oracle>"``: a GuacaMol/PMO oracle in ``[0, 1]``, 0 if invalid; ``"file:<path>"``: a
        scoring file, :mod:`.scoring_file`), a callable
        ``f(mol) -> float`` (:class:`CallableObjective`), or an :class:`Objective` (returned as is).
    :param scorer: a shared :class:`MoleculeScorer` (its caches then serve several objectives).
    :param kwargs: passed to the objective's constructor (e.g. ``invalid_value``, ``on_error``).
    :raises ValueError: for an unknown name (the message lists the valid ones).
    """
    if isinstance(name_or_callable, Objective):
        return name_or_callable
    if isinstance(name_or_callable, str):
        key = name_or_callable.strip().lower()
        if key in _NAMED:
            return _NAMED[key](scorer=scorer, **kwargs)
        for prefix, factory in _FAMILIES.items():
            if key.startswith(prefix):  # the rest keeps its case: a file path may need it
                return factory(name_or_callable.strip()[len(prefix) :], scorer=scorer, **kwargs)
        raise ValueError(
            f"unknown objective {name_or_callable!r}; valid names: {', '.join(objective_names())}, "
            "or pass a callable f(mol) -> float"
        )
    if callable(name_or_callable):
        return CallableObjective(name_or_callable, scorer=scorer, **kwargs)
    raise TypeError(
        f"objective must be a registered name, a callable or an Objective, got {type(name_or_callable).__name__}"
    )
