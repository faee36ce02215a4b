"""``SeqTutor-Melody-v0``: compose a melody with a frozen Note RNN prior and music-theory rules."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..checks import check_num_envs, check_sequence_length, check_unknown_kwargs
from ..prior import load_frozen_prior
from ..sequence_env import SequenceEnv, SequenceVectorEnv
from ..task import SequenceTask, TaskStep
from . import encoding as enc
from .rules import RULE_NAMES, MusicTheoryRules

ENV_ID = "SeqTutor-Melody-v0"
DEFAULT_PRIOR = "melody_prior.pt"
DEFAULT_C = 10.0  # RL Tuner's training script: reward_scaler = 1/c = 0.1
ACCEPTED_KWARGS = ("c", "prior_weight", "composition_length", "prior_path", "render_mode")


def default_prior_path() -> Path:
    """The Note RNN shipped inside the package."""
    return Path(str(resources.files("seqtutor_envs") / "data" / DEFAULT_PRIOR))


class MelodyTask(SequenceTask):
    """Melody domain: a random-note primer, RL Tuner's nine music-theory rules, fixed length."""

    name = ENV_ID
    domain_reward_alias = "music_theory_reward"
    # A loose bound on |r_MT| of one step: the rules' largest magnitudes sum to 142.5 (key 1, tonic 3,
    # repetition 100, autocorrelation 3 lags x 3 |rho| <= 9, motif 4.5, repeated motif 9, interval 5,
    # leap 5, unique extremes 6). The core refuses a c under which it could overflow, so a melody step
    # never needs undoing for an infinite reward (the rules' state is costly to snapshot).
    domain_reward_bound = 1000.0
    option_keys = ("primer",)

    def __init__(self, num_envs: int, composition_length: int) -> None:
        composition_length = check_sequence_length("composition_length", composition_length, 8)
        super().__init__(num_envs, int(composition_length), enc.VOCAB_SIZE, pad_token=enc.VOCAB_SIZE)
        self.rules = MusicTheoryRules(num_envs, composition_length=int(composition_length))

    def primer(self, rng: np.random.Generator, options: dict[str, Any] | None) -> int:
        if options and options.get("primer") is not None:
            primer = options["primer"]
            if not isinstance(primer, (int, np.integer)) or not enc.NUM_SPECIAL_TOKENS <= primer < enc.VOCAB_SIZE:
                raise ValueError(
                    f"options['primer'] must be a pitch token in [{enc.NUM_SPECIAL_TOKENS}, {enc.VOCAB_SIZE}), "
                    f"got {primer!r}"
                )
            return int(primer)
        # A random pitch, as RL Tuner's 'random_note' priming; drawn from the env's own RNG.
        return int(rng.integers(enc.NUM_SPECIAL_TOKENS, enc.VOCAB_SIZE))

    def reset(self, env_indices: np.ndarray) -> None:
        mask = np.zeros(self.num_envs, dtype=bool)
        mask[env_indices] = True
        self.rules.reset(mask)

    def step(self, actions, env_indices, tokens, lengths) -> TaskStep:
        # The core checked the actions and the lengths: all envs together take the rules' unchecked path.
        breakdown = self.rules.step_trusted(actions) if env_indices is None else self.rules.step(actions, env_indices)
        done = lengths if env_indices is None else lengths[env_indices]
        return TaskStep(
            domain_reward=breakdown.sum(axis=1),
            terminated=done >= self.max_length,
            terms={name: breakdown[:, k] for k, name in enumerate(RULE_NAMES)},
        )

    def final_info(self, env_indices, tokens, lengths) -> dict[str, Any]:
        return {
            "composition": tokens[env_indices, 1 : self.max_length + 1].copy(),
            "primer": tokens[env_indices, 0].copy(),
        }

    def describe(self, tokens: np.ndarray) -> str:
        return " ".join(enc.token_name(t) for t in tokens)


def _build(num_envs: int, composition_length: int, prior_path: str | None):
    path = Path(prior_path) if prior_path is not None else default_prior_path()
    stepper, _ = load_frozen_prior(path)
    return MelodyTask(num_envs, composition_length), stepper, str(path)


class MelodyEnv(SequenceEnv):
    """Compose a monophonic melody one 16th-note step at a time, tutored by a Note RNN.

    ## Description
    Sequence Tutor's melody task (Jaques et al., ICML 2017). A frozen LSTM "Note RNN", pre-trained
    by maximum likelihood on ~12k folk tunes from music21's corpus (transposed to C major /
    A minor), is the prior policy. The agent writes a composition of ``composition_length``
    16th-note steps after a random priming note and is rewarded for following RL Tuner's nine
    music-theory rules while staying likely under the prior.

    ## Action Space
    ``Discrete(38)``, note_seq's ``MelodyOneHotEncoding(48, 84)``: 0 = no event (hold the sounding
    note or the silence), 1 = note off (a rest starts), 2..37 = a note of MIDI pitch 48..83 starts.

    ## Observation Space
    ``Dict`` (Markov, so a feed-forward policy can act on it):
    ``tokens`` ``MultiDiscrete([39] * (composition_length + 1))`` -- the priming note, then the
    composition so far, padded with 38; ``step`` ``Discrete(composition_length + 1)`` -- tokens
    written so far; ``prior_log_probs`` ``Box(-100, 0, (38,), float32)`` -- the Note RNN's
    next-token log-probabilities at this state.

    ## Rewards
    ``prior_weight * log p_prior(a|s) + r_MT(s, a) / c``, with ``r_MT`` the sum of the nine rules
    in :mod:`seqtutor_envs.melody.rules` (key, tonic, repetition, autocorrelation, motif,
    repeated motif, preferred intervals, leap resolution, unique extremes). ``info`` holds
    the reward's parts -- ``prior_log_prob``, ``domain_reward`` (= ``music_theory_reward``), ``c``
    and ``prior_weight`` -- and ``reward_terms`` (each rule); the final step's ``info`` adds
    ``composition`` (the tokens) and ``primer``.

    ## Starting State
    A zero LSTM state fed one priming note, a pitch drawn uniformly from the env's seeded RNG
    (or ``options={"primer": token}``). The primer is not part of the composition.

    ## Episode End
    Terminates after ``composition_length`` tokens (a fixed horizon that the ``step``
    observation makes Markov). No truncation. In the vector env's default
    ``autoreset_mode="next_step"`` every ``composition_length + 1``-th vector step (the 33rd by
    default) of a sub-env is a reset step, no transition: see :class:`MelodyVectorEnv`.

    ## Arguments
    ``gym.make("SeqTutor-Melody-v0", c=10.0, prior_weight=1.0, composition_length=32,
    prior_path=None, render_mode=None)``; each argument is described under ``__init__``.
    ``gym.make_vec(..., num_envs=N)`` builds the batched :class:`MelodyVectorEnv`.

    ## Version History
    * v0: initial release.
    """

    def __init__(
        self,
        c: float = DEFAULT_C,
        prior_weight: float = 1.0,
        composition_length: int = 32,
        prior_path: str | None = None,
        render_mode: str | None = None,
        **unknown: Any,
    ) -> None:
        """
        :param c: the domain reward is divided by it, positive (10.0 is RL Tuner's training script's
            ``reward_scaler = 0.1``).
        :param prior_weight: the weight of ``log p_prior(a|s)`` in the reward (non-negative).
        :param composition_length: 16th-note steps per composition (>= 8; 32 = two bars).
        :param prior_path: a Note RNN saved by ``LSTMPrior.save``; None uses the shipped one.
        :param render_mode: ``"ansi"`` (note names) or ``"rgb_array"`` (piano roll).
        :param unknown: any other keyword is refused with a message naming it.
        """
        check_unknown_kwargs(ENV_ID, unknown, ACCEPTED_KWARGS, f"{type(self).__name__}.__init__")
        task, stepper, self.prior_path = _build(1, composition_length, prior_path)
        super().__init__(task, stepper, c, prior_weight, render_mode)

    def render(self):
        if self.render_mode is None:
            return None
        tokens = self.emitted_tokens()
        if self.render_mode == "ansi":
            primer = enc.token_name(self.core.tokens[0, 0])
            return f"[{primer}] {self.task.describe(tokens)}".rstrip()
        return _piano_roll(tokens, self.task.max_length)


class MelodyVectorEnv(SequenceVectorEnv):
    """``num_envs`` melody episodes in one batch; see :class:`MelodyEnv` for the task.

    Created by ``gym.make_vec("SeqTutor-Melody-v0", num_envs=N)``.

    Autoreset (keyword ``autoreset_mode``): ``"next_step"`` (default, Gymnasium's) makes the step
    after a melody ends a *reset step* of that sub-env: its action is ignored, it returns the next
    melody's first observation with reward 0, ``terminated=False``, ``info`` without reward parts
    (the ``_prior_log_prob`` mask False) -- every 33rd vector step with the default 32-step
    melodies, all sub-envs together when they started together. A learner must mask it (the
    previous step's ``terminated | truncated``); ``examples/ppo_native_vector_env.py`` is a
    CleanRL-style PPO that does. ``"same_step"`` resets inside the ending step
    (``info["final_obs"]``, ``info["final_info"]``; SB3's convention, used by
    :class:`seqtutor_agents.SeqTutorVecEnv`); ``"disabled"`` leaves resets to the caller
    (``reset(options={"reset_mask": mask})``; TorchRL's ``GymWrapper`` prefers it).
    """

    def __init__(
        self,
        num_envs: int = 1,
        c: float = DEFAULT_C,
        prior_weight: float = 1.0,
        composition_length: int = 32,
        prior_path: str | None = None,
        render_mode: str | None = None,
        autoreset_mode: str = "next_step",
        **unknown: Any,
    ) -> None:
        check_unknown_kwargs(
            ENV_ID, unknown, ("num_envs", "autoreset_mode", *ACCEPTED_KWARGS), f"{type(self).__name__}.__init__"
        )
        task, stepper, self.prior_path = _build(check_num_envs(num_envs), composition_length, prior_path)
        super().__init__(task, stepper, c, prior_weight, render_mode, autoreset_mode)

    def _render_one(self, tokens: np.ndarray):
        if self.render_mode == "ansi":
            return self.task.describe(tokens)
        return _piano_roll(tokens, self.task.max_length)


def _piano_roll(tokens: np.ndarray, length: int) -> np.ndarray:
    from .midi import piano_roll_image

    padded = np.full(length, enc.NO_EVENT, dtype=np.int64)
    padded[: len(tokens)] = tokens
    return piano_roll_image(padded[None, :])
