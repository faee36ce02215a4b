"""Ten small drug-like molecules, best first: the scored set that graph-GA and off-policy tests breed from."""

import numpy as np

PARENTS = [
    "CC(=O)Oc1ccccc1C(=O)O",
    "c1ccc2c(c1)cc[nH]2",
    "CCN(CC)C(=O)c1ccccc1",
    "O=C(O)CCc1ccc(Cl)cc1",
    "CC1CCN(C(=O)c2ccco2)CC1",
    "COc1ccc(CNC(=O)C2CC2)cc1",
    "Cc1ccc(S(=O)(=O)N2CCOCC2)cc1",
    "CC(C)Cc1ccc(C(C)C(=O)O)cc1",
    "N#Cc1ccc(-c2ccccn2)cc1",
    "Clc1ccc2ncccc2c1",
]
#: Their scores: decreasing, so PARENTS[:k] are the k best.
SCORES = np.linspace(1.0, 0.1, len(PARENTS))
