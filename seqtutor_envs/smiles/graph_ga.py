"""A graph genetic algorithm on RDKit molecules: offspring of the best scored molecules, for off-policy learners.

Genetic GFN (Kim et al. 2024) scores graph-GA offspring of its best molecules and learns from them
off-policy; this is that GA. Per *generation*: the ``pool_size`` best scored molecules form the
pool (stable ranking, earlier first among equal scores); ``parents`` molecules are drawn from it
with replacement, rank-based (``p ∝ 1/(k·N + rank)``, :func:`seqtutor_envs.sampling.rank_sample`);
each child crosses two of those (chosen uniformly) and, with probability ``mutation_rate``, is
mutated (:mod:`.graph_ga_ops`). A *round* runs ``generations`` generations, each one's children
scored (by the caller: oracle calls) and added to the scored set before the next.

Children are canonical SMILES without stereochemistry (what the SMILES prior writes), sanitisable
by RDKit, within the size and ring rules, new (not in the scored set, not in ``exclude``, not made
twice) and accepted by an optional predicate (e.g. :meth:`~.external.EpisodeEncoder.encodable`: the
prior can write them within the env's ``max_length``). Everything that fell out is counted
(:class:`GAStats`). Deterministic given the numpy ``Generator``: RDKit draws no random numbers here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
from rdkit import Chem, RDLogger

from ..sampling import DEFAULT_RANK_COEFFICIENT, rank_sample, stable_rank_order
from .graph_ga_ops import MUTATION_WEIGHTS, TRIES, Parent, as_parent, crossover_chain, crossover_ring, editable, mutate
from .scoring import LRUCache, parse_smiles

#: Elements of the shipped MOSES prior's vocabulary (and of Jensen's mutations).
DEFAULT_ELEMENTS = ("C", "N", "O", "F", "S", "Cl", "Br")


@dataclass(frozen=True)
class GraphGAConfig:
    """The GA's settings; defaults are Genetic GFN's (``hparams_default.yaml``) and Jensen's size rule."""

    pool_size: int = 1024  # M: the best scored molecules the parents are drawn from (Genetic GFN's num_keep)
    parents: int = 64  # rank-based draws (with replacement) from the pool per generation (its population_size)
    children: int = 8  # new molecules per generation (its offspring_size)
    generations: int = 2  # generations per round, each scored and added to the pool before the next (ga_generations)
    mutation_rate: float = 0.01  # probability that a crossover child is also mutated
    rank_coefficient: float = DEFAULT_RANK_COEFFICIENT  # k of p ∝ 1/(k·N + rank); small k: greedy
    min_atoms: int = 6  # fewest heavy atoms of a child (Jensen: more than 5)
    size_mean: float = 39.15  # a child has fewer heavy atoms than a fresh N(size_mean, size_std) draw (Jensen's rule)
    size_std: float = 3.5  # 0: a fixed bound of size_mean
    max_ring_size: int = 6  # largest ring a child may hold (no macrocycles)
    elements: tuple[str, ...] = DEFAULT_ELEMENTS  # elements mutations add or change atoms to
    mutation_weights: Mapping[str, float] = field(default_factory=lambda: dict(MUTATION_WEIGHTS))  # per mutation
    attempts_per_child: int = 10  # reproductions tried per asked child before a generation stops short

    def __post_init__(self) -> None:
        for name in (
            "pool_size",
            "parents",
            "children",
            "generations",
            "min_atoms",
            "max_ring_size",
            "attempts_per_child",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"GraphGAConfig.{name} must be an integer >= 1, got {value!r}")
        for name, low, high in (
            ("mutation_rate", 0.0, 1.0),
            ("rank_coefficient", 0.0, math.inf),
            ("size_mean", 0.0, math.inf),
            ("size_std", 0.0, math.inf),
        ):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not low <= value <= high
                or not math.isfinite(value)
                or (name == "rank_coefficient" and value == 0)
            ):
                raise ValueError(
                    f"GraphGAConfig.{name} must be a finite number in [{low}, {high}]"
                    f"{' and > 0' if name == 'rank_coefficient' else ''}, got {value!r}"
                )
        table = Chem.GetPeriodicTable()
        bad = [e for e in self.elements if not isinstance(e, str) or _atomic_number(table, e) < 1]
        if bad or not self.elements:
            raise ValueError(f"GraphGAConfig.elements must be element symbols, got {list(self.elements)!r}")
        object.__setattr__(self, "elements", tuple(self.elements))
        unknown = sorted(set(self.mutation_weights) - set(MUTATION_WEIGHTS))
        if unknown:
            raise ValueError(
                f"GraphGAConfig.mutation_weights: unknown mutation(s) {unknown}; known: {list(MUTATION_WEIGHTS)}"
            )
        weights = [float(w) for w in self.mutation_weights.values()]
        if not weights or any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError(
                f"GraphGAConfig.mutation_weights must be finite, >= 0 and not all 0, got "
                f"{dict(self.mutation_weights)!r}"
            )

    @property
    def children_per_round(self) -> int:
        """Oracle calls one round asks for: ``children x generations``."""
        return self.children * self.generations

    def check_budget(self, budget: int, setting: str = "budget") -> None:
        """Refuse (one-line ``ValueError`` naming ``setting``) a budget of oracle calls smaller than one round."""
        if budget < self.children_per_round:
            raise ValueError(
                f"{setting}={budget} oracle calls is smaller than one graph-GA round (children={self.children} x "
                f"generations={self.generations} = {self.children_per_round}); raise {setting} or lower the GA's "
                "children or generations"
            )


def _atomic_number(table: Any, symbol: str) -> int:
    try:
        return table.GetAtomicNumber(symbol)
    except RuntimeError:
        return 0


@dataclass
class GAStats:
    """What happened to the reproductions of one or more generations (all counts)."""

    generations: int = 0  # generations run
    attempts: int = 0  # reproductions tried (two parents drawn, crossed, maybe mutated)
    crossover_failed: int = 0  # no acceptable crossover child within the operator's tries
    mutations: int = 0  # children drawn for a mutation (probability mutation_rate)
    mutation_failed: int = 0  # of which no acceptable mutant was found: the child is dropped (as Jensen's GA)
    unsanitizable: int = 0  # candidate graphs RDKit could not sanitise (or whose SMILES it could not read back)
    rejected: int = 0  # sanitised candidates outside the size or ring rules, or in several pieces
    known: int = 0  # children already scored or in exclude (not novel)
    repeated: int = 0  # children made earlier in the same generation (not unique)
    unencodable: int = 0  # children the accept predicate refused (e.g. the prior cannot write them)
    children: int = 0  # children returned
    short_pool: int = 0  # generations whose scored set was smaller than pool_size (the pool was all of it)
    invalid_parents: int = 0  # drawn parents RDKit could not read or kekulize (their draws dropped)
    short_generations: int = 0  # generations that returned fewer children than asked (attempts ran out)

    def add(self, other: GAStats) -> None:
        """Add ``other``'s counts to these."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class Offspring:
    """One generation's children."""

    smiles: list[str]  # new canonical SMILES, in the order made
    parents: list[tuple[str, str]]  # each child's two parents
    mutated: np.ndarray  # (n,) bool: the child was mutated after the crossover
    stats: GAStats  # this generation's counts
    note: str | None = None  # a sentence when the pool was smaller than pool_size or held no usable parent


@dataclass
class GARound:
    """A round's children over its generations, with the scores the caller gave them."""

    smiles: list[str]
    scores: np.ndarray  # (n,) float64
    generations: list[Offspring]
    stats: GAStats  # the generations' counts added up


class GraphGA:
    """The graph GA (see the module docstring).

    :param config: the settings (default: Genetic GFN's).
    :param rng: the numpy generator, the only source of randomness (an int seeds a new one).
    :param accept: optional predicate on a child's canonical SMILES; refused children are counted
        (``unencodable``) and not returned, so no oracle call is spent on a child nobody can use.
    :param cache_size: parsed parents kept between generations.
    """

    def __init__(
        self,
        config: GraphGAConfig | None = None,
        rng: np.random.Generator | int | None = None,
        accept: Callable[[str], bool] | None = None,
        cache_size: int = 20_000,
    ) -> None:
        self.config = config if config is not None else GraphGAConfig()
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.accept = accept
        self.stats = GAStats()  # every generation's counts, added up
        self._allowed = frozenset(self.config.elements)
        self._weights = {k: float(v) for k, v in self.config.mutation_weights.items() if v > 0}
        self._parsed = LRUCache(cache_size)
        RDLogger.DisableLog("rdApp.*")  # failed candidates are expected and counted, not printed

    # ------------------------------------------------------------------ one generation
    def generation(
        self, smiles: Sequence[str], scores: Sequence[float] | np.ndarray, exclude: Container[str] = ()
    ) -> Offspring:
        """Up to ``config.children`` new children of the best of the scored molecules.

        :param smiles: the scored molecules (canonical SMILES, e.g. an ``OracleLog``'s), each once.
        :param scores: their scores, higher is better.
        :param exclude: canonical SMILES no child may be (e.g. ``oracle_log.scores``: everything called).
        :raises ValueError: if ``smiles`` and ``scores`` differ in length or a score is not finite.
        """
        cfg, stats = self.config, GAStats(generations=1)
        smiles = list(smiles)
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if len(scores) != len(smiles):
            raise ValueError(f"graph GA: {len(smiles)} SMILES but {len(scores)} scores")
        if not np.isfinite(scores).all():
            raise ValueError(f"graph GA: scores must be finite, got {scores[~np.isfinite(scores)][0]!r}")
        note = None
        if len(smiles) < cfg.pool_size:
            stats.short_pool = 1
            note = f"pool_size={cfg.pool_size} but {len(smiles)} molecules are scored: the pool is all of them"
        if not len(smiles):
            self.stats.add(stats)
            return Offspring([], [], np.zeros(0, dtype=bool), stats, "no scored molecule: no parents, no children")
        pool = stable_rank_order(scores)[: cfg.pool_size]
        # Only the drawn molecules are read (a pool of 1,024 yields at most `parents` distinct ones).
        drawn = pool[rank_sample(scores[pool], cfg.parents, self.rng, cfg.rank_coefficient)].tolist()
        mols = {i: self._parent(smiles[i]) for i in dict.fromkeys(drawn)}
        stats.invalid_parents = sum(m is None for m in mols.values())
        parents = {i: m for i, m in mols.items() if m is not None}
        drawn = [i for i in drawn if i in parents]
        if not drawn:
            self.stats.add(stats)
            return Offspring([], [], np.zeros(0, dtype=bool), stats, "no drawn parent RDKit can read: no children")
        out, pairs, mutated = self._reproduce(drawn, parents, smiles, set(smiles), exclude, stats)
        stats.children = len(out)
        stats.short_generations = int(len(out) < cfg.children)
        self.stats.add(stats)
        return Offspring(out, pairs, np.array(mutated, dtype=bool), stats, note)

    def _reproduce(
        self,
        drawn: list[int],
        mols: dict[int, Parent],
        names: list[str],
        scored: set[str],
        exclude: Container[str],
        stats: GAStats,
    ) -> tuple[list[str], list[tuple[str, str]], list[bool]]:
        cfg, rng = self.config, self.rng
        out: list[str] = []
        pairs: list[tuple[str, str]] = []
        mutated: list[bool] = []
        made: set[str] = set()
        while len(out) < cfg.children and stats.attempts < cfg.children * cfg.attempts_per_child:
            stats.attempts += 1
            i, j = (drawn[int(k)] for k in rng.integers(len(drawn), size=2))
            child = self._crossover(mols[i], mols[j], stats)
            if child is None:
                stats.crossover_failed += 1
                continue
            mutate_it = bool(rng.random() < cfg.mutation_rate)
            if mutate_it:
                stats.mutations += 1
                child = mutate(child, rng, lambda rw: self._check(rw, stats), self._weights, self._allowed)
                if child is None:
                    stats.mutation_failed += 1
                    continue
            text = self._canonical(child, stats)
            if text is None:
                continue
            if text in scored or text in exclude:
                stats.known += 1
                continue
            if text in made:
                stats.repeated += 1
                continue
            if self.accept is not None and not self.accept(text):
                stats.unencodable += 1
                continue
            made.add(text)
            out.append(text)
            pairs.append((names[i], names[j]))
            mutated.append(mutate_it)
        return out, pairs, mutated

    # ------------------------------------------------------------------ a round
    def run_round(
        self,
        smiles: Sequence[str],
        scores: Sequence[float] | np.ndarray,
        score: Callable[[list[str]], Sequence[float] | np.ndarray],
        exclude: Container[str] = (),
        should_stop: Callable[[], bool] | None = None,
    ) -> GARound:
        """``config.generations`` generations; each one's children are scored by ``score`` and join the pool.

        :param smiles: the scored molecules (canonical SMILES).
        :param scores: their scores.
        :param score: scores a generation's children (oracle calls), one value per child, in order.
        :param exclude: canonical SMILES no child may be.
        :param should_stop: checked after each generation (e.g. ``lambda: oracle_log.exhausted``).
        """
        pool_smiles = list(smiles)
        pool_scores: list[float] = list(np.asarray(scores, dtype=np.float64).reshape(-1))
        done: list[Offspring] = []
        new_smiles: list[str] = []
        new_scores: list[float] = []
        stats = GAStats()
        for _ in range(self.config.generations):
            offspring = self.generation(pool_smiles, pool_scores, exclude)
            done.append(offspring)
            stats.add(offspring.stats)
            if offspring.smiles:
                values = np.asarray(score(list(offspring.smiles)), dtype=np.float64).reshape(-1)
                if len(values) != len(offspring.smiles):
                    raise ValueError(
                        f"graph GA: score() returned {len(values)} values for {len(offspring.smiles)} children"
                    )
                pool_smiles += offspring.smiles
                pool_scores += values.tolist()
                new_smiles += offspring.smiles
                new_scores += values.tolist()
            if should_stop is not None and should_stop():
                break
        return GARound(new_smiles, np.array(new_scores, dtype=np.float64), done, stats)

    # ------------------------------------------------------------------ pieces
    def _parent(self, smiles: str) -> Parent | None:
        """A pool molecule, Kekulé (the operators cut explicit single and double bonds), with its cut sites; cached."""
        if smiles in self._parsed:
            return self._parsed[smiles]
        mol = parse_smiles(smiles)
        try:
            parsed = as_parent(editable(mol).GetMol()) if mol is not None else None
        except Exception:  # RDKit raises several types for a molecule it cannot kekulize
            parsed = None
        self._parsed[smiles] = parsed
        return parsed

    def _crossover(self, a: Parent, b: Parent, stats: GAStats) -> Chem.Mol | None:
        """A chain or a ring crossover (a fair coin per try), :data:`TRIES` tries."""
        for _ in range(TRIES):
            operator = crossover_chain if self.rng.random() < 0.5 else crossover_ring
            child = operator(a, b, self.rng, lambda rw: self._check(rw, stats))
            if child is not None:
                return child
        return None

    def _check(self, rw: Chem.RWMol, stats: GAStats) -> Chem.Mol | None:
        """The candidate sanitised, if RDKit can and it keeps the size and ring rules; counted either way."""
        mol = rw.GetMol()
        try:
            Chem.SanitizeMol(mol)
        except Exception:  # RDKit raises several types (valence, kekulization, ...)
            stats.unsanitizable += 1
            return None
        cfg = self.config
        bound = cfg.size_mean + cfg.size_std * self.rng.standard_normal()
        n = mol.GetNumAtoms()
        if n < cfg.min_atoms or n >= bound or not ring_ok(mol, cfg.max_ring_size) or len(Chem.GetMolFrags(mol)) != 1:
            stats.rejected += 1
            return None
        return mol

    def _canonical(self, mol: Chem.Mol, stats: GAStats) -> str | None:
        """Canonical SMILES without stereochemistry, as RDKit reads it back (what the scorer's canonical form is)."""
        mol = Chem.Mol(mol)
        Chem.RemoveStereochemistry(mol)
        again = parse_smiles(Chem.MolToSmiles(mol))
        if again is None:
            stats.unsanitizable += 1
            return None
        return Chem.MolToSmiles(again)


#: Jensen's ring rules as SMARTS: a ring atom double-bonded to two ring atoms (a ring allene), and a
#: double bond between atoms whose smallest ring has three or four members.
_RING_ALLENE = Chem.MolFromSmarts("[R]=[R]=[R]")
_SMALL_RING_DOUBLE_BOND = Chem.MolFromSmarts("[r3,r4]=[r3,r4]")


def ring_ok(mol: Chem.Mol, max_ring_size: int = 6) -> bool:
    """No ring larger than ``max_ring_size``, no ring allene, no double bond in a three- or four-membered ring."""
    rings = mol.GetRingInfo().AtomRings()
    if not rings:
        return True
    return (
        max(map(len, rings)) <= max_ring_size
        and not mol.HasSubstructMatch(_RING_ALLENE)
        and not mol.HasSubstructMatch(_SMALL_RING_DOUBLE_BOND)
    )
