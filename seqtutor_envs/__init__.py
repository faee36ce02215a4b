"""seqtutor environments: sequence generation as RL on a frozen, pre-trained prior (Sequence Tutor).

Importing this package registers the environments with Gymnasium::

    import gymnasium as gym
    import seqtutor_envs  # noqa: F401

    env = gym.make("SeqTutor-Melody-v0")
    envs = gym.make_vec("SeqTutor-Melody-v0", num_envs=256)  # native batched VectorEnv
    mol_env = gym.make("SeqTutor-SMILES-v0", objective="qed")

``gym.make("seqtutor_envs:SeqTutor-Melody-v0")`` works without the import. Each env's domain --
statistics, samples, targets, pre-training data -- is in the registry of :mod:`seqtutor_envs.domains`.
"""

from gymnasium.envs.registration import register, registry

from .domains import register_domain
from .melody.domain import MELODY
from .smiles.domain import SMILES

__version__ = "0.1.0"

_ENVS = {
    "SeqTutor-Melody-v0": ("seqtutor_envs.melody.env:MelodyEnv", "seqtutor_envs.melody.env:MelodyVectorEnv"),
    "SeqTutor-SMILES-v0": ("seqtutor_envs.smiles.env:SmilesEnv", "seqtutor_envs.smiles.env:SmilesVectorEnv"),
}

for _env_id, (_entry, _vector_entry) in _ENVS.items():
    if _env_id not in registry:
        register(id=_env_id, entry_point=_entry, vector_entry_point=_vector_entry)

for _domain in (MELODY, SMILES):
    register_domain(_domain)
