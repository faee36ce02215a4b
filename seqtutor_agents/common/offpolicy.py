"""Off-policy molecules for learners on ``SeqTutor-SMILES-v0``: graph-GA offspring, randomised rewrites, scaffold purge.

Two options of the learners that can learn from sequences they did not write (G, Ψ, DPG, DAP, TB),
after Genetic GFN and Augmented Memory (``../shared/reference/sequence-tutor.md`` §13):

* ``genetic`` -- *genetic exploration*: every ``interval`` molecules the learner finished (64 by
  default, Genetic GFN's batch), a round of the graph GA (:class:`~seqtutor_envs.smiles.graph_ga.GraphGA`)
  breeds children of the best molecules scored so far; the children are scored through the env's
  own objective -- the same oracle calls, :class:`~seqtutor_envs.smiles.pmo.OracleLog` budget, call
  log, early stop and diversity filter as the agent's molecules -- and come back as the episodes the
  env would have produced for them (tokens, the prior's log-probabilities at every state, the
  reward's parts; :class:`~seqtutor_envs.smiles.external.EpisodeEncoder`), for the learner's replay.
  A child the prior cannot write is refused before it is scored (counted), so every scored child
  is one oracle call of the budget. ``genetic`` is a dict of
  :class:`~seqtutor_envs.smiles.graph_ga.GraphGAConfig` fields (``pool_size``, ``children``,
  ``generations``, ``mutation_rate``, ``rank_coefficient``, ...) plus ``interval``; ``{}`` or
  ``True`` take Genetic GFN's settings.
* ``augment`` -- *augmented replay*: k randomised (non-canonical) SMILES rewrites of the molecules an
  update replays, the reward reused (no oracle call) and the prior's log-probabilities recomputed,
  for k more updates; when the env's diversity filter zeroes a molecule, every remembered entry of
  its Bemis-Murcko scaffold is purged (Saturn's selective purge).

:class:`MoleculeExtras` is the component (one per learner, bound to its env);
:class:`MoleculeExtrasMixin` gives a learner the two arguments, the component, and its part of a
checkpoint (the scored pool and counters, so that a resumed run breeds from what it had scored).
Every draw comes from numpy generators seeded by the learner's seed and a round counter, so a run
and a resumed run make the same children.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import numpy as np

from seqtutor_envs.smiles.augment import randomized_smiles, scaffold_purge_mask
from seqtutor_envs.smiles.diversity_filter import DiversityFilter
from seqtutor_envs.smiles.env import SmilesTask
from seqtutor_envs.smiles.external import EpisodeEncoder, ExternalEpisodes
from seqtutor_envs.smiles.graph_ga import GraphGA, GraphGAConfig
from seqtutor_envs.smiles.pmo import OracleLog

from .episodes import Episode
from .validation import check_number

#: Molecules the learner finishes between two GA rounds by default (Genetic GFN's batch of 64 samples).
DEFAULT_INTERVAL = 64
_GA_FIELDS = tuple(f.name for f in dataclasses.fields(GraphGAConfig))


def genetic_settings(genetic: Any) -> tuple[GraphGAConfig | None, int]:
    """The GA's settings and round interval of a learner's ``genetic`` argument (None / False: off).

    :raises ValueError: a value that is not None, a bool or a dict, an unknown key (the accepted ones
        listed), or a bad setting (named by :class:`GraphGAConfig`).
    """
    if genetic is None or genetic is False:
        return None, DEFAULT_INTERVAL
    if genetic is True:
        genetic = {}
    if not isinstance(genetic, dict):
        raise ValueError(f"genetic must be None, True or a dict of graph-GA settings, got {genetic!r}")
    unknown = sorted(set(genetic) - set(_GA_FIELDS) - {"interval"})
    if unknown:
        raise ValueError(f"genetic: unknown setting(s) {unknown}; accepted: interval, {', '.join(_GA_FIELDS)}")
    interval = genetic.get("interval", DEFAULT_INTERVAL)
    check_number("genetic.interval", interval, low=1, integer=True)
    return GraphGAConfig(**{k: v for k, v in genetic.items() if k != "interval"}), int(interval)


def check_genetic_budget(genetic: Any, budget: int) -> None:
    """Refuse a PMO ``budget`` smaller than one round of a learner's ``genetic`` setting (a no-op when it is off).

    :raises ValueError: one line naming ``budget`` and the round's size, or a bad ``genetic`` setting.
    """
    config, _ = genetic_settings(genetic)
    if config is not None:
        config.check_budget(budget, "budget")


def _unwrap(objective: Any) -> tuple[DiversityFilter | None, OracleLog | None]:
    """The diversity filter and the PMO call log among the env's objective's wrappers."""
    diversity = objective if isinstance(objective, DiversityFilter) else None
    inner = objective.objective if diversity is not None else objective
    return diversity, inner if isinstance(inner, OracleLog) else None


class MoleculeExtras:
    """Genetic exploration and augmented replay of one learner (see the module docstring).

    :param genetic: the learner's ``genetic`` argument (None: no GA rounds).
    :param augment: rewrites per replayed molecule, i.e. extra updates (0: none).
    :param seed: seeds the GA and the rewrites (with a round counter).
    """

    def __init__(self, genetic: Any = None, augment: int = 0, seed: int | None = None) -> None:
        self.ga_config, self.interval = genetic_settings(genetic)
        check_number("augment", augment, low=0, integer=True)
        self.augment, self.seed = int(augment), int(seed or 0)
        self.pool: dict[str, float] = {}  # canonical SMILES -> score: every molecule scored so far, first score kept
        self.ga_smiles: set[str] = set()  # the children the GA had scored (for the share of the best they make)
        self.counts: Counter[str] = Counter()  # everything that happened, logged as train/ga_* and train/augment_*
        self.since_round = 0  # molecules finished since the last GA round
        self.env: Any = None
        self._ga: GraphGA | None = None

    @property
    def enabled(self) -> bool:
        return self.ga_config is not None or self.augment > 0

    # ------------------------------------------------------------------ the env
    def bind(self, env: Any) -> None:
        """Read what the options need from a SMILES env (a SeqTutorVecEnv or a native vector env).

        :raises ValueError: an env that is not ``SeqTutor-SMILES-v0``, or a PMO budget smaller than one GA round.
        """
        native = getattr(env, "venv", env)
        task = getattr(getattr(native, "unwrapped", native), "task", None)
        if not isinstance(task, SmilesTask):
            raise ValueError(
                f"genetic and augment rewrite molecules: they need a SeqTutor-SMILES-v0 env, got "
                f"{type(task).__name__ if task is not None else type(env).__name__}"
            )
        self.env, self.task = env, task
        self.encoder = EpisodeEncoder.from_env(env)
        self.diversity_filter, self.oracle_log = _unwrap(task.objective)
        self._strings = np.array(task.vocab.tokens, dtype=object)
        self._end = task.vocab.end_id
        if self.ga_config is not None:
            if self.oracle_log is not None:
                self.ga_config.check_budget(self.oracle_log.budget, "budget")
            self._ga = GraphGA(self.ga_config, accept=self.encoder.encodable)

    def decode(self, tokens: np.ndarray) -> str:
        """The SMILES an episode's tokens spell (BOS and END left out)."""
        ids = np.asarray(tokens[1:])
        if len(ids) and ids[-1] == self._end:
            ids = ids[:-1]
        return "".join(self._strings[ids])

    # ------------------------------------------------------------------ genetic exploration
    def observe(self, episodes: list[Episode]) -> None:
        """Add the learner's finished molecules to the scored pool the GA's parents come from."""
        if self.ga_config is None or not episodes:
            return
        canonical = self.task.scorer.canonical_batch([self.decode(e.tokens) for e in episodes])
        for canon, episode in zip(canonical, episodes, strict=True):
            if canon is not None and canon not in self.pool:
                self.pool[canon] = float(episode.domain_rewards[-1])
        self.since_round += len(episodes)

    def explore(self, env_step: int) -> list[Episode]:
        """A GA round if ``interval`` molecules finished since the last one: its scored children as episodes."""
        if self.ga_config is None or self.since_round < self.interval:
            return []
        self.since_round = 0
        log = self.oracle_log
        if log is not None and log.stopped:
            self.counts["ga_rounds_skipped"] += 1  # the budget is spent: no child would be scored
            return []
        ga = self._ga
        assert ga is not None  # bind() made it from ga_config
        ga.rng = np.random.default_rng([self.seed, self.counts["ga_rounds"]])
        self.counts["ga_rounds"] += 1
        scored: list[ExternalEpisodes] = []
        calls_before = log.calls if log is not None else 0

        def score(children: list[str]) -> np.ndarray:
            ext = self.encoder.episodes(children)  # the env's objective: oracle calls, the log, the filter
            scored.append(ext)
            values = np.zeros(len(children))
            values[ext.source] = ext.final_scores
            self.counts["ga_unencodable"] += len(children) - len(ext)
            return values

        round_ = ga.run_round(
            list(self.pool),
            np.fromiter(self.pool.values(), dtype=np.float64, count=len(self.pool)),
            score,
            exclude=log.scores if log is not None else (),
            should_stop=(lambda: log.exhausted) if log is not None else None,
        )
        for key, value in round_.stats.as_dict().items():
            self.counts[f"ga_{key}"] += value
        episodes = self._called_episodes(scored)
        self.counts["ga_calls"] += (log.calls - calls_before) if log is not None else len(episodes)
        if log is not None:
            log.annotate(env_step, [(s, float(e.prior_log_prob.sum()), None) for s, e in episodes])
        return [e for _, e in episodes]

    def _called_episodes(self, scored: list[ExternalEpisodes]) -> list[tuple[str, Episode]]:
        """The children that were scored (past the budget a string scores 0 uncalled: left out), in the pool too."""
        log, out = self.oracle_log, []
        for ext in scored:
            for i, canon in enumerate(self.task.scorer.canonical_batch(ext.smiles)):
                if canon is None or (log is not None and canon not in log.scores):
                    self.counts["ga_uncalled"] += 1
                    continue
                self.pool.setdefault(canon, float(ext.final_scores[i]))
                self.ga_smiles.add(canon)
                out.append((ext.smiles[i], Episode(**ext.episode(i))))
        return out

    # ------------------------------------------------------------------ augmented replay
    def rewrite(self, episodes: list[Episode]) -> list[Episode]:
        """Each molecule as a randomised SMILES the prior can write, its rewards reused (no oracle call)."""
        if not episodes:
            return []
        rng = np.random.default_rng([self.seed, 1, self.counts["augment_calls"]])
        self.counts["augment_calls"] += 1
        smiles = [self.decode(e.tokens) for e in episodes]
        finals = np.array([float(e.domain_rewards[-1]) for e in episodes])
        rewritten = randomized_smiles(smiles, rng, accept=self.encoder.encodable)
        ext = self.encoder.episodes(rewritten.smiles, scores=finals[rewritten.source])
        self.counts["augment_rewrites"] += len(ext)
        self.counts["augment_canonical"] += rewritten.fallback  # no other string the prior can write
        self.counts["augment_invalid"] += rewritten.invalid  # e.g. the agent's invalid strings: nothing to rewrite
        self.counts["augment_failed"] += rewritten.failed + sum(ext.skipped.values())
        return [Episode(**ext.episode(i)) for i in range(len(ext))]

    def purge_mask(self, smiles: list[str]) -> np.ndarray | None:
        """Which of a memory's molecules survive the selective purge (None: the filter zeroed nothing new)."""
        if self.augment == 0 or self.diversity_filter is None:
            return None
        zeroed = self.diversity_filter.take_zeroed()
        if not zeroed:
            return None
        keep = scaffold_purge_mask(smiles, zeroed)
        self.counts["augment_purged"] += int((~keep).sum())
        return keep

    # ------------------------------------------------------------------ logs and checkpoints
    def run_figures(self, best: list[str]) -> dict[str, int]:
        """A PMO run's row: oracle calls spent on GA children, how many of the ``best`` (canonical SMILES, best
        first) the GA made among the first 10 and all, rewrites trained on."""
        return {
            "ga_calls": int(self.counts["ga_calls"]),
            "ga_in_top10": sum(s in self.ga_smiles for s in best[:10]),
            "ga_in_top100": sum(s in self.ga_smiles for s in best),
            "ga_unencodable": int(self.counts["ga_unencodable"]),
            "augment_rewrites": int(self.counts["augment_rewrites"]),
        }

    def record(self, logger: Any) -> None:
        """Log the counts (``train/ga_*``, ``train/augment_*``) and the pool's size."""
        for key, value in sorted(self.counts.items()):
            logger.record(f"train/{key}", value)
        if self.ga_config is not None:
            logger.record("train/ga_pool", len(self.pool))

    def state_arrays(self) -> dict[str, np.ndarray]:
        keys = sorted(self.counts)
        return {
            "pool_smiles": np.array(list(self.pool), dtype=str),
            "pool_scores": np.fromiter(self.pool.values(), dtype=np.float64, count=len(self.pool)),
            "ga_smiles": np.array(sorted(self.ga_smiles), dtype=str),
            "count_names": np.array(keys, dtype=str),
            "count_values": np.array([self.counts[k] for k in keys], dtype=np.int64),
            "since_round": np.array(self.since_round, dtype=np.int64),
        }

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.pool = dict(zip(arrays["pool_smiles"].tolist(), arrays["pool_scores"].tolist(), strict=True))
        self.ga_smiles = set(arrays["ga_smiles"].tolist())
        self.counts = Counter(dict(zip(arrays["count_names"].tolist(), arrays["count_values"].tolist(), strict=True)))
        self.since_round = int(arrays["since_round"])


#: Prefix of the component's arrays in a learner's checkpoint (beside its own memory's).
ARRAY_PREFIX = "molecules__"


class MoleculeExtrasMixin:
    """A learner's ``genetic`` and ``augment`` arguments and their component (first among its bases).

    The learner calls :meth:`_init_molecule_extras` in its ``__init__``; the component is built and
    bound to the env when the model is set up and whenever its env changes (a melody env with either
    option is refused there, by name).
    """

    env: Any
    seed: int | None
    num_timesteps: int

    def _init_molecule_extras(self, genetic: Any, augment: int) -> None:
        genetic_settings(genetic)  # checked now, before SB3 builds anything
        check_number("augment", augment, low=0, integer=True)
        self.genetic, self.augment = genetic, int(augment)
        self.molecules: MoleculeExtras | None = None
        self._molecule_arrays: dict[str, np.ndarray] | None = None

    def _bind_molecules(self) -> None:
        if not (self.genetic not in (None, False) or self.augment):
            self.molecules = None
            return
        if self.molecules is None:
            self.molecules = MoleculeExtras(self.genetic, self.augment, self.seed)
            if self._molecule_arrays:
                self.molecules.restore(self._molecule_arrays)
        if self.env is not None and self.molecules.env is not self.env:
            self.molecules.bind(self.env)

    def _setup_model(self) -> None:
        super()._setup_model()  # type: ignore[misc]  # a mixin: the algorithm after it in the MRO has it
        self._bind_molecules()

    def set_env(self, env: Any, force_reset: bool = True) -> None:
        super().set_env(env, force_reset)  # type: ignore[misc]  # a mixin: the algorithm after it in the MRO has it
        self._bind_molecules()

    def _explore(self, episodes: list[Episode]) -> list[Episode]:
        """Record the finished ``episodes`` and run a GA round if one is due: its children's episodes."""
        if self.molecules is None or self.molecules.ga_config is None:
            return []
        self.molecules.observe(episodes)
        return self.molecules.explore(int(self.num_timesteps))

    def _purge(self, memory: Any) -> None:
        """The selective scaffold purge of a :class:`~seqtutor_agents.common.memory.TopKMemory`."""
        if self.molecules is None or not len(memory):
            return
        keep = self.molecules.purge_mask([self.molecules.decode(e.tokens) for e in memory.episodes])
        if keep is not None:
            memory.keep(keep)

    def _feed_replay_buffer(self, episodes: list[Episode], buffer: Any) -> None:
        """For the TD learners, after a collection: GA children and elite rewrites into the episode replay buffer.

        ``augment`` rewrites, per molecule collected, that many episodes drawn from the elite memory
        (its own sampling) after the selective purge; they are replayed like any stored episode.
        """
        if self.molecules is None:
            return
        if not hasattr(buffer, "add_episodes"):
            raise ValueError("genetic and augment store whole episodes: they need replay_buffer_class='episode'")
        buffer.add_episodes(self._explore(episodes))
        if self.augment and buffer.num_elites():
            rows = np.flatnonzero(np.isfinite(buffer.elite_returns))
            keep = self.molecules.purge_mask([self.molecules.decode(e.tokens) for e in buffer.elite_episodes(rows)])
            if keep is not None:
                buffer.purge_elites(rows[~keep])
            if buffer.num_elites() and episodes:
                drawn = buffer.elite_episodes(buffer.elite_rows(self.augment * len(episodes)))
                buffer.add_episodes(self.molecules.rewrite(drawn))
        self.molecules.record(self.logger)  # type: ignore[attr-defined]  # a mixin: SB3's algorithm has the logger

    def checkpoint_arrays(self) -> dict[str, np.ndarray]:
        """The component's state for a checkpoint (learners with a memory of their own add theirs)."""
        return self.molecule_arrays()

    def restore_checkpoint_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.restore_molecule_arrays(arrays)

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "molecules", "_molecule_arrays"]  # type: ignore[misc]  # a mixin: the algorithm after it in the MRO has it

    def molecule_arrays(self) -> dict[str, np.ndarray]:
        """The component's state for a checkpoint (prefixed; empty when both options are off)."""
        if self.molecules is None:
            return {}
        return {ARRAY_PREFIX + k: v for k, v in self.molecules.state_arrays().items()}

    def restore_molecule_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        own = {k[len(ARRAY_PREFIX) :]: v for k, v in arrays.items() if k.startswith(ARRAY_PREFIX)}
        self._molecule_arrays = own or None
        if own and self.molecules is not None:
            self.molecules.restore(own)
