"""seqtutor environments: sequence generation as RL on a frozen, pre-trained prior (Sequence Tutor)."""
