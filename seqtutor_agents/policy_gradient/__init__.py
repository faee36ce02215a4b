"""Learners on whole episodes from the prior: REINVENT's augmented likelihood (DAP), KL-PPO, DPG and TB.

``base.py`` collects whole episodes with the prior-initialised LSTM policy (``policies.py``) and
runs the update loop; ``dap.py``, ``klppo.py``, ``dpg.py`` (distribution matching toward π*) and
``tb.py`` (trajectory balance toward π*, off-policy) are the four losses.
"""

from ..common.memory import TopKMemory
from .base import EpisodicPolicyGradient
from .dap import DAP, augmented_likelihood_loss
from .dpg import DPG, conditional_dpg_weights, dpg_weights
from .klppo import KLPPO, gae, kl_penalty
from .policies import PriorLSTMPolicy
from .tb import TB, TBPolicy

__all__ = [
    "DAP",
    "DPG",
    "KLPPO",
    "TB",
    "EpisodicPolicyGradient",
    "PriorLSTMPolicy",
    "TBPolicy",
    "TopKMemory",
    "augmented_likelihood_loss",
    "conditional_dpg_weights",
    "dpg_weights",
    "gae",
    "kl_penalty",
]
