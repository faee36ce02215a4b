"""``SeqTutor-SMILES-v0``: write a molecule as a SMILES string, tutored by a pre-trained SMILES RNN."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from rdkit import Chem

from ..checks import check_num_envs, check_sequence_length, check_unknown_kwargs
from ..prior import load_frozen_prior
from ..sequence_env import SequenceEnv, SequenceVectorEnv
from ..task import SequenceTask, TaskStep
from .diversity_filter import DiversityFilter, apply_diversity_filter
from .guacamol import GUACAMOL_PREFIX
from .objectives import PAPER_C, CallableObjective, Objective, make_objective
from .scoring import PROPERTIES, MoleculeScorer, parse_smiles
from .scoring_file import SCORING_FILE_PREFIX
from .stages import StagedScoring
from .syntax import PrefixSyntaxTracker
from .tokenizer import Vocabulary

ENV_ID = "SeqTutor-SMILES-v0"
DEFAULT_PRIOR = "smiles_prior.pt"
DEFAULT_OBJECTIVE = "qed"
DEFAULT_MAX_LENGTH = 100
#: Default ``c`` per objective: it sets how many nats of prior log-likelihood one unit of domain
#: reward is worth. QED lies in [0, 1] and a MOSES molecule costs ~20-30 nats under the prior, so
#: c = 0.02 (REINVENT-like sigma = 50); penalised logP spans ~10 units, c = 0.2; the paper's
#: reward is in the hundreds and used reward_scaler 0.35 = 1/c.
DEFAULT_C: dict[str, float] = {"qed": 0.02, "plogp": 0.2, "paper": PAPER_C}
#: ``"guacamol:<name>"`` oracles and scoring files (``"file:<path>"``) lie in [0, 1] like QED: the same c.
DEFAULT_C_GUACAMOL = 0.02
DEFAULT_C_CALLABLE = 0.1
ACCEPTED_KWARGS = (
    "objective",
    "c",
    "prior_weight",
    "max_length",
    "prior_path",
    "render_mode",
    "diversity_filter",
    "scoring_workers",
    "objective_errors",
    "info_properties",
    "scoring_stage",
)
#: Below this many envs a scoring worker costs more (process round trips) than it overlaps.
AUTO_SCORING_MIN_ENVS = 128


def resolve_scoring_workers(value: Any, num_envs: int) -> int:
    """``scoring_workers``: an int >= 0, or ``"auto"`` (one worker for >= 128 envs on a machine of >= 2 CPUs)."""
    if value == "auto":
        return 1 if num_envs >= AUTO_SCORING_MIN_ENVS and (os.cpu_count() or 1) >= 2 else 0
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"scoring_workers must be an integer >= 0 or 'auto', got {value!r}")
    cpus = os.cpu_count() or 1
    if value > cpus:  # a run folder's config.json could otherwise start any number of processes
        raise ValueError(f"scoring_workers must be at most this machine's {cpus} CPUs (the limit), got {value}")
    return int(value)


def default_prior_path() -> Path:
    """The SMILES prior shipped inside the package."""
    return Path(str(resources.files("seqtutor_envs") / "data" / DEFAULT_PRIOR))


def vocabulary_of_prior(metadata: dict[str, Any], num_outputs: int, path: Any) -> Vocabulary:
    """The vocabulary stored with a SMILES prior, checked against the prior's output layer."""
    if "vocabulary" not in metadata or not isinstance(metadata["vocabulary"], dict):
        raise ValueError(f"{path} holds no SMILES vocabulary in its metadata: was it trained for another domain?")
    vocab = Vocabulary.from_json(metadata["vocabulary"])
    if vocab.num_actions != num_outputs:
        raise ValueError(
            f"vocabulary mismatch in {path}: its vocabulary has {vocab.num_actions} actions but the weights "
            f"predict {num_outputs} tokens"
        )
    return vocab


class SmilesTask(SequenceTask):
    """SMILES domain: starts at BOS, ends at END or ``max_length`` tokens, scored by an objective.

    Per step the domain reward is the objective's prefix shaping (the ``paper`` preset only; other
    objectives pay nothing before the end), asked of RDKit only for prefixes that pass a cheap
    syntactic filter (balanced branches, closed rings, no dangling bond); at the end it is the
    objective's score of the final SMILES. Scores are cached by canonical SMILES.
    """

    name = ENV_ID

    def __init__(
        self,
        num_envs: int,
        vocab: Vocabulary,
        max_length: int,
        objective: Objective,
        scoring_workers: int = 0,
        info_properties: Any = None,
    ) -> None:
        max_length = check_sequence_length("max_length", max_length, 2)
        super().__init__(num_envs, int(max_length), vocab.num_actions, pad_token=vocab.pad_id)
        self.scoring_workers = scoring_workers
        self.vocab = vocab
        self.objective = objective
        self.scorer: MoleculeScorer = objective.scorer
        self.tracker = PrefixSyntaxTracker(vocab, num_envs)
        self._token_strings = np.array(vocab.tokens, dtype=object)
        self._noop = np.full(num_envs, vocab.pad_id, dtype=np.int64)
        base = objective.objective if isinstance(objective, DiversityFilter) else objective
        self._base = base
        self._details: tuple[np.ndarray, dict[str, Any]] = (np.zeros(0, dtype=np.int64), {})
        #: A user objective whose failures score as invalid: each molecule's failure is reported in info.
        self._counts_errors = isinstance(base, CallableObjective) and base.on_error == "invalid"
        self._objective_error = np.zeros(num_envs, dtype=bool)
        self.info_properties = resolve_info_properties(info_properties, base)
        self._scored_properties = tuple(dict.fromkeys((*base.properties, *self.info_properties)))

    def primer(self, rng: np.random.Generator, options: dict[str, Any] | None) -> int:
        return self.vocab.bos_id

    def prepare_step(self, actions, env_indices, tokens, lengths) -> None:
        """Send the molecules this step finishes to the scoring worker(s), to overlap RDKit with the prior."""
        if not self.scoring_workers:
            return
        idx = np.arange(self.num_envs) if env_indices is None else env_indices
        done = idx[(actions == self.vocab.end_id) | (lengths[idx] >= self.max_length)]
        if len(done):
            self.scorer.prefetch(
                self.smiles_of(tokens, lengths, done), workers=self.scoring_workers, properties=self._scored_properties
            )

    def reset(self, env_indices: np.ndarray) -> None:
        self.tracker.reset(env_indices)

    def smiles_of(self, tokens: np.ndarray, lengths: np.ndarray, rows: np.ndarray) -> list[str]:
        """SMILES strings of ``rows`` (END excluded)."""
        out = []
        for i in rows:
            ids = tokens[i, 1 : 1 + lengths[i]]
            if len(ids) and ids[-1] == self.vocab.end_id:
                ids = ids[:-1]
            out.append("".join(self._token_strings[ids]))
        return out

    def step(self, actions, env_indices, tokens, lengths) -> TaskStep:
        saved = self._tracker_state()
        try:
            return self._step(actions, env_indices, tokens, lengths)
        except BaseException:
            self._restore_tracker(saved)  # a failing objective leaves the batch as it was
            raise

    _TRACKER_FIELDS = ("length", "depth", "broken", "ended", "last_bad", "ring_open", "open_count")

    def _tracker_state(self) -> dict[str, np.ndarray]:
        return {name: getattr(self.tracker, name).copy() for name in self._TRACKER_FIELDS}

    def _restore_tracker(self, saved: dict[str, np.ndarray]) -> None:
        for name, value in saved.items():
            setattr(self.tracker, name, value)

    def _step(self, actions, env_indices, tokens, lengths) -> TaskStep:
        idx = np.arange(self.num_envs) if env_indices is None else env_indices
        if env_indices is None:
            completable = self.tracker.step(actions)
        else:  # PAD is a no-op for the tracker: step only the active rows
            ids = self._noop.copy()
            ids[idx] = actions
            completable = self.tracker.step(ids)[idx]
        ended = actions == self.vocab.end_id
        terminated = ended | (lengths[idx] >= self.max_length)
        prefix = np.zeros(len(idx))
        final = np.zeros(len(idx))
        done = np.flatnonzero(terminated)
        # Every score is checked before anything stateful runs (the diversity filter's memory last),
        # so a refused step leaves the task as it was; the tracker is restored by step().
        if self.objective.has_prefix_shaping:
            ask = np.flatnonzero(~terminated & completable)
            if len(ask):
                prefix[ask] = self._checked(
                    self.objective.score_prefix(self.smiles_of(tokens, lengths, idx[ask])), "prefix shaping"
                )
        raw = np.zeros(0)
        if len(done):
            smiles = self.smiles_of(tokens, lengths, idx[done])
            # The diversity filter only zeroes scores, so checking the wrapped objective's scores suffices.
            scores, details = self._base.score_with_details(smiles)
            raw = self._checked(scores, "final score")
            final[done] = self.objective.filter(smiles, raw) if isinstance(self.objective, DiversityFilter) else raw
            if self._counts_errors:
                assert isinstance(self._base, CallableObjective)  # _counts_errors implies it
                self._objective_error[idx[done]] = self._base.last_errors
            self._details = (idx[done], details)  # what final_info reports of these molecules, as scored now
        self._base.observe(raw, len(idx))  # a staged objective may switch stage for the next step
        return TaskStep(
            domain_reward=prefix + final, terminated=terminated, terms={"prefix_shaping": prefix, "final_score": final}
        )

    def _checked(self, values: np.ndarray, what: str = "score") -> np.ndarray:
        """The objective's values as float64, or a ``RewardOverflowError`` (a ``ValueError``) naming the objective
        and the bad value when one is not finite or too large to give a finite reward under the env's c."""
        return self.check_domain_rewards(values, f"objective {self.objective.name!r} returned a {what} of")

    def final_info(self, env_indices, tokens, lengths) -> dict[str, Any]:
        smiles = self.smiles_of(tokens, lengths, env_indices)
        scores = self.scorer.score(smiles, self.info_properties)
        info: dict[str, Any] = {"smiles": smiles, "valid": scores["valid"], "length": scores["length"]}
        info.update({k: scores[k] for k in self.info_properties})
        rows, details = self._details
        if np.array_equal(rows, env_indices):  # a scoring file's components, their raw values, the stage
            info.update(details)
        if self._counts_errors:  # objective_errors="invalid": which molecules were scored as invalid because f failed
            info["objective_error"] = self._objective_error[env_indices].copy()
        return info

    def describe(self, tokens: np.ndarray) -> str:
        ids = [int(t) for t in tokens if t != self.vocab.end_id]
        return "".join(self.vocab.tokens[t] for t in ids)


def resolve_info_properties(info_properties: Any, objective: Objective) -> tuple[str, ...]:
    """The properties the last step's ``info`` reports: the objective's (None), all (``"all"``), or those named."""
    if info_properties is None:
        return tuple(objective.properties)
    if info_properties == "all":
        return tuple(PROPERTIES)
    if isinstance(info_properties, str) or not all(isinstance(p, str) for p in info_properties):
        raise ValueError(f"info_properties must be None, 'all' or a list of {PROPERTIES}, got {info_properties!r}")
    unknown = [p for p in info_properties if p not in PROPERTIES]
    if unknown:
        raise ValueError(f"info_properties: unknown {unknown}; choose from {PROPERTIES}")
    return tuple(info_properties)


def _build(
    num_envs: int,
    objective: Any = DEFAULT_OBJECTIVE,
    c: float | None = None,
    max_length: int = DEFAULT_MAX_LENGTH,
    prior_path: str | None = None,
    diversity_filter: Any = None,
    scoring_workers: Any = 0,
    objective_errors: str = "raise",
    info_properties: Any = None,
    scoring_stage: int | None = None,
):
    path = Path(prior_path) if prior_path is not None else default_prior_path()
    stepper, metadata = load_frozen_prior(path)
    vocab = vocabulary_of_prior(metadata, stepper.num_outputs, path)
    in_unit_range = isinstance(objective, str) and objective.strip().lower().startswith(
        (GUACAMOL_PREFIX, SCORING_FILE_PREFIX)
    )
    if objective_errors not in CallableObjective.ON_ERROR:
        raise ValueError(f"objective_errors must be one of {CallableObjective.ON_ERROR}, got {objective_errors!r}")
    extra: dict[str, Any] = (
        {"on_error": objective_errors} if callable(objective) and not isinstance(objective, Objective) else {}
    )
    obj = make_objective(objective, **extra)  # an unknown name raises here, listing the registered ones
    # Fail at construction, not mid-episode, if the objective cannot score ordinary molecules. Checked
    # before the diversity filter wraps it, so these molecules do not enter the filter's memory.
    SmilesTask(1, vocab, 2, obj)._checked(obj.score_final(["CCO", "c1ccccc1", "CC(=O)Oc1ccccc1C(=O)O"]))
    if scoring_stage is not None:
        if not isinstance(obj, StagedScoring):
            raise ValueError(
                f"scoring_stage={scoring_stage!r} applies to a scoring file with [[stage]] tables, "
                f"not to the objective {obj.name!r}"
            )
        obj.set_stage(scoring_stage)
    if c is None:
        if in_unit_range:
            c = DEFAULT_C_GUACAMOL
        elif isinstance(objective, str):
            c = DEFAULT_C.get(obj.name, DEFAULT_C_CALLABLE)
        else:
            c = DEFAULT_C_CALLABLE
    obj = apply_diversity_filter(obj, diversity_filter)
    workers = resolve_scoring_workers(scoring_workers, num_envs)
    return SmilesTask(num_envs, vocab, max_length, obj, workers, info_properties), stepper, c, str(path)


def _filter_of(task: SmilesTask) -> DiversityFilter | None:
    """The task's diversity filter (its objective), or ``None`` when the filter is off."""
    return task.objective if isinstance(task.objective, DiversityFilter) else None


def _stages_of(task: SmilesTask) -> StagedScoring | None:
    """The task's staged scoring file objective, or ``None`` when its objective has no stages."""
    return task._base if isinstance(task._base, StagedScoring) else None


class SmilesEnv(SequenceEnv):
    """Generate a molecule token by token, tutored by a pre-trained SMILES LSTM.

    ## Description
    Sequence Tutor's molecule task (Jaques et al., ICML 2017). A frozen LSTM prior, pre-trained by
    maximum likelihood on the MOSES training set (1.58M ZINC molecules, canonical SMILES), is the
    prior policy. The agent writes a SMILES string one token at a time and is rewarded by an
    RDKit-computed objective while staying likely under the prior.

    ## Action Space
    ``Discrete(V)``: id 0 is END (finish the molecule), ids 1..V-1 are SMILES tokens (atoms,
    bracket atoms, bonds, branches, ring-bond digits) of the prior's vocabulary (``env.vocab``).

    ## Observation Space
    ``Dict``: ``tokens`` ``MultiDiscrete([V + 2] * (max_length + 1))`` -- BOS then the tokens so
    far, padded with PAD (id V + 1); ``step`` ``Discrete(max_length + 1)``; ``prior_log_probs``
    ``Box(-100, 0, (V,), float32)`` -- the prior's next-token log-probabilities.

    ## Rewards
    ``prior_weight * log p_prior(a|s) + r_domain / c``. ``objective`` chooses ``r_domain``:
    ``"qed"`` (default; QED of the final molecule, 0 if invalid), ``"plogp"`` (penalised logP =
    logP - SA + ring penalty, -10 if invalid), ``"paper"`` (the authors' reward: +5 + score for
    each valid prefix, score + length penalty + 600 for a valid end, the length penalty for an
    invalid one; score = 3 logP + 5 ring + 40 QED - 2 SA), ``"guacamol:<name>"`` (a GuacaMol
    goal-directed oracle as used by PMO, in [0, 1], 0 if invalid: ``qed``, rediscoveries,
    similarities, isomers, median molecules, MPOs, ``valsartan_smarts``, ``deco_hop``,
    ``scaffold_hop``; see ``seqtutor_envs.smiles.guacamol.GUACAMOL_OBJECTIVES``), ``"file:<path>"`` (a
    scoring file, TOML or JSON in REINVENT 4's layout: RDKit components, similarity, substructures,
    alerts, oracles, transforms, weights, stages; in [0, 1], 0 if invalid; see
    ``seqtutor_envs.smiles.scoring_file``) or a callable ``f(mol) -> float``. ``diversity_filter`` (off
    by default) applies REINVENT's IdenticalMurckoScaffold filter to the final score: once
    ``bucket_size`` (25) molecules scoring at least ``min_score`` (0.4) share a Murcko scaffold, later
    molecules of that scaffold score 0, and so does a repeat of a remembered molecule; its memory
    persists across episodes and resets
    (``env.diversity_filter``: counts, ``reset()``; see
    :class:`~seqtutor_envs.smiles.diversity_filter.DiversityFilter`).
    ``info`` holds ``prior_log_prob``, ``domain_reward`` and ``reward_terms`` (``prefix_shaping``,
    ``final_score``); the last step's ``info`` adds ``smiles``, ``valid``, ``length`` and the
    properties the objective reads (``qed`` for ``"qed"``; ``logp``, ``qed``, ``sa``,
    ``ring_penalty`` for ``"paper"``; none for a GuacaMol oracle; for a scoring file ``score`` and each
    component's transformed and raw value in ``components`` and ``components_raw``, and ``stage`` if it
    has stages), so no other property is computed;
    ``info_properties="all"`` (or a list) asks for others (``logp``, ``qed``, ``sa``,
    ``ring_penalty``, ``plogp``). Any string, even garbage, gets a finite reward.

    ## Starting State
    The prior's zero state fed BOS (deterministic).

    ## Episode End
    Terminates when the agent emits END or after ``max_length`` tokens (the string is then scored
    as it is; the ``step`` observation makes this fixed horizon Markov). No truncation. In the
    vector env's default ``autoreset_mode="next_step"``, the vector step after a molecule ends is a
    reset step for that sub-env (action ignored, reward 0, no reward parts): mask it (see
    :class:`SmilesVectorEnv`).

    ## Arguments
    ``gym.make("SeqTutor-SMILES-v0", objective="qed", c=None, prior_weight=1.0, max_length=100,
    prior_path=None, render_mode=None, diversity_filter=None, scoring_workers=0, objective_errors="raise",
    info_properties=None, scoring_stage=None)``; each argument is described under ``__init__``.
    ``gym.make_vec(..., num_envs=N)`` builds the batched :class:`SmilesVectorEnv`.

    ## Version History
    * v0: initial release.
    """

    def __init__(
        self,
        objective: str | Callable = DEFAULT_OBJECTIVE,
        c: float | None = None,
        prior_weight: float = 1.0,
        max_length: int = DEFAULT_MAX_LENGTH,
        prior_path: str | None = None,
        render_mode: str | None = None,
        diversity_filter: bool | Mapping[str, Any] | None = None,
        scoring_workers: int | str = 0,
        objective_errors: str = "raise",
        info_properties: str | Sequence[str] | None = None,
        scoring_stage: int | None = None,
        **unknown: Any,
    ) -> None:
        """
        :param objective: ``"qed"``, ``"plogp"``, ``"paper"``, ``"guacamol:<name>"``, ``"file:<path>"`` (a
            scoring file) or a callable ``f(mol) -> float`` (see Rewards).
        :param c: the domain reward is divided by it (positive). None picks the objective's default: qed 0.02,
            plogp 0.2, paper 1/0.35, ``guacamol:*`` and ``file:*`` 0.02, a callable 0.1.
        :param prior_weight: the weight of ``log p_prior(a|s)`` in the reward (non-negative).
        :param max_length: tokens after which a molecule ends even without END (>= 2).
        :param prior_path: a SMILES prior saved by ``LSTMPrior.save`` (with its vocabulary); None uses the
            shipped one.
        :param render_mode: ``"ansi"`` (the SMILES) or ``"rgb_array"`` (an RDKit depiction).
        :param diversity_filter: ``None``/``False`` (off), ``True`` (REINVENT's defaults) or a dict of
            ``DiversityFilter`` options (``bucket_size``, ``min_score``, ``penalize_repeats``, ``cache_size``).
        :param scoring_workers: RDKit scoring in that many worker processes, overlapped with the prior's
            forward; the vector env's default is ``"auto"`` (one worker from 128 envs on >= 2 CPUs).
        :param objective_errors: what a callable objective that raises or returns NaN/inf/a non-number does:
            ``"raise"`` (``ObjectiveError`` naming the objective and the molecule, the env left as it was)
            or ``"invalid"`` (the molecule scores as invalid, counted in ``objective.error_count`` and flagged
            in the final info's ``objective_error``).
        :param info_properties: the molecule properties the last step's ``info`` reports: None (the
            objective's own), ``"all"``, or a list of ``logp``, ``qed``, ``sa``, ``ring_penalty``, ``plogp``.
        :param scoring_stage: the stage (from 1) a staged scoring file starts in (``env.stages``: its
            ``StagedScoring``, with ``stage`` and ``switches``).
        :param unknown: any other keyword is refused with a message naming it.
        """
        check_unknown_kwargs(ENV_ID, unknown, ACCEPTED_KWARGS, f"{type(self).__name__}.__init__")
        task, stepper, c, self.prior_path = _build(
            1,
            objective,
            c,
            max_length,
            prior_path,
            diversity_filter,
            scoring_workers,
            objective_errors,
            info_properties,
            scoring_stage,
        )
        self.vocab = task.vocab
        self.diversity_filter = _filter_of(task)
        self.stages = _stages_of(task)
        super().__init__(task, stepper, c, prior_weight, render_mode)

    def render(self):
        if self.render_mode is None:
            return None
        smiles = self.task.describe(self.emitted_tokens())
        return smiles if self.render_mode == "ansi" else depict(smiles)


class SmilesVectorEnv(SequenceVectorEnv):
    """``num_envs`` SMILES episodes in one batch; see :class:`SmilesEnv` for the task.

    One prior forward per step, one syntactic-filter update, and one batched, cached RDKit scoring
    call for the molecules that finished (plus completable prefixes for the ``paper`` objective).
    ``scoring_workers`` (default ``"auto"``: one for >= 128 envs on >= 2 CPUs) scores the finishing
    molecules in worker processes (one pool shared by the process's envs) while the prior's forward
    runs; results are identical either way.
    With ``diversity_filter``, molecules finishing at the same step enter the filter in env order.

    Autoreset (keyword ``autoreset_mode``): ``"next_step"`` (default) makes the step after a
    molecule ends a *reset step* of that sub-env: its action is ignored, it returns the next
    molecule's first observation with reward 0, ``terminated=False`` and the ``_prior_log_prob``
    mask False. Molecules end at different lengths, so reset steps fall at different steps per
    sub-env: mask them with the previous step's ``terminated | truncated``
    (``examples/ppo_native_vector_env.py``). ``"same_step"`` resets inside the ending step (SB3,
    :class:`seqtutor_agents.SeqTutorVecEnv`); ``"disabled"`` leaves resets to the caller
    (``reset(options={"reset_mask": mask})``; TorchRL).
    """

    def __init__(
        self,
        num_envs: int = 1,
        autoreset_mode: str = "next_step",
        render_mode: str | None = None,
        scoring_workers: int | str = "auto",
        prior_weight: float = 1.0,
        **settings: Any,
    ) -> None:
        """:class:`SmilesEnv`'s arguments (``settings``: objective, c, max_length, ...), and ``num_envs``."""
        unknown = set(settings) - set(ACCEPTED_KWARGS)
        check_unknown_kwargs(
            ENV_ID,
            {k: settings[k] for k in unknown},
            ("num_envs", "autoreset_mode", *ACCEPTED_KWARGS),
            f"{type(self).__name__}.__init__",
        )
        task, stepper, c, self.prior_path = _build(
            check_num_envs(num_envs), scoring_workers=scoring_workers, **settings
        )
        self.vocab = task.vocab
        self.diversity_filter = _filter_of(task)
        self.stages = _stages_of(task)
        super().__init__(task, stepper, c, prior_weight, render_mode, autoreset_mode)

    def _render_one(self, tokens: np.ndarray):
        smiles = self.task.describe(tokens)
        return smiles if self.render_mode == "ansi" else depict(smiles)


def depict(smiles: str, size: int = 300) -> np.ndarray:
    """RDKit depiction of a SMILES as an RGB array; an empty canvas captioned with the string if invalid."""
    from PIL import ImageDraw  # PIL and RDKit's drawing: only when an episode is drawn
    from rdkit.Chem import Draw

    mol = parse_smiles(smiles) if smiles else None
    image = Draw.MolToImage(mol if mol is not None else Chem.Mol(), size=(size, size))
    if mol is None:
        ImageDraw.Draw(image).text((8, size - 20), (smiles or "(empty)")[:48], fill=(120, 0, 0))
    return np.asarray(image.convert("RGB"), dtype=np.uint8)
