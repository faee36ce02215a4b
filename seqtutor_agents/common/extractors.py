"""A features extractor that lets sb3-contrib's ``RecurrentPPO`` (and any LSTM policy) run on seqtutor envs.

SB3's ``CombinedExtractor`` one-hots each ``MultiDiscrete`` sub-observation and sums their sizes
with Python's ``sum`` over a numpy array, so its ``features_dim`` is a ``numpy.int64``.
``nn.Linear`` accepts that; ``nn.LSTM`` does not (``TypeError: input_size should be of type int,
got: int64``), so ``RecurrentPPO("MultiInputLstmPolicy", env)`` fails on any env whose
observation holds a ``MultiDiscrete`` -- ours hold the token prefix as one. The cause is upstream;
:class:`SeqTutorExtractor` is the same extractor with a Python ``int`` size::

    from sb3_contrib import RecurrentPPO
    from seqtutor_agents import SeqTutorExtractor, make_sb3_vec_env

    env = make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=8)
    model = RecurrentPPO("MultiInputLstmPolicy", env, policy_kwargs={"features_extractor_class": SeqTutorExtractor})

``seqtutor train --algo recurrent_ppo`` passes it for you.
"""

from __future__ import annotations

from gymnasium import spaces
from stable_baselines3.common.torch_layers import CombinedExtractor

from .recipes import allow_class


class SeqTutorExtractor(CombinedExtractor):
    """SB3's ``CombinedExtractor`` (one-hot tokens, step, prior log-probabilities, concatenated), ``int`` size.

    :param observation_space: a seqtutor ``Dict`` observation space.
    :param cnn_output_dim: unused by seqtutor observations (no images); kept for SB3's signature.
    :param normalized_image: unused, as above.
    """

    def __init__(
        self, observation_space: spaces.Dict, cnn_output_dim: int = 256, normalized_image: bool = False
    ) -> None:
        super().__init__(observation_space, cnn_output_dim=cnn_output_dim, normalized_image=normalized_image)
        self._features_dim = int(self._features_dim)


# Model files may name these classes (seqtutor_agents.common.recipes' allow-list).
allow_class("features_extractor", SeqTutorExtractor)
