"""Learners on whole episodes from the prior: REINVENT's augmented likelihood (DAP), KL-PPO, and DPG.

``base.py`` collects whole episodes with the prior-initialised LSTM policy (``policies.py``) and
runs the update loop; ``dap.py``, ``klppo.py`` and ``dpg.py`` (distribution matching toward π*)
are the three losses.
"""

from .base import EpisodicPolicyGradient
from .dap import DAP, TopKMemory, augmented_likelihood_loss
from .dpg import DPG, dpg_weights
from .klppo import KLPPO, gae, kl_penalty
from .policies import PriorLSTMPolicy

__all__ = ["DAP", "DPG", "KLPPO", "EpisodicPolicyGradient", "PriorLSTMPolicy", "TopKMemory", "augmented_likelihood_loss", "dpg_weights",
           "gae", "kl_penalty"]
