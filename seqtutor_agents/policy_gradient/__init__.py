"""KL-regularised policy-gradient baselines from the prior: REINVENT's augmented likelihood (DAP) and KL-PPO.

``base.py`` collects whole episodes with the prior-initialised LSTM policy (``policies.py``) and
runs the update loop; ``dap.py`` and ``klppo.py`` are the two losses.
"""

from .base import EpisodicPolicyGradient
from .dap import DAP, TopKMemory, augmented_likelihood_loss
from .klppo import KLPPO, gae, kl_penalty
from .policies import PriorLSTMPolicy

__all__ = ["DAP", "KLPPO", "EpisodicPolicyGradient", "PriorLSTMPolicy", "TopKMemory", "augmented_likelihood_loss",
           "gae", "kl_penalty"]
