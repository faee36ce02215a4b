"""Time per molecule of each PMO (GuacaMol) oracle, and of the Gobbi pharmacophore fingerprint two ways.

The molecules are the shipped SMILES prior's own: ``--steps`` vector steps of ``--num-envs`` envs
with the prior's tokens (as :mod:`benchmarks.smiles_env_speed` records them), the distinct valid
ones kept; or, with ``--calls``, the new molecules a PMO run scored (its ``oracle_calls.csv``: an
optimised run's molecules can be larger than the prior's, with more pharmacophore features). Then, in
turn and ``--repeats`` times: (a) RDKit's ``Gen2DFingerprint`` with
``Gobbi_Pharm2D.factory`` (GuacaMol's ``PHCO``) and (b) our
:func:`~seqtutor_envs.smiles.pharmacophore.gobbi_2d_fingerprint` on every molecule, counting the
molecules whose bits differ; (c) every oracle scoring all of them through a fresh objective (no
cached score: the cost a PMO run pays for a new molecule). Writes
``benchmarks/results/oracle_speed.md``.

    python -m benchmarks.oracle_speed --repeats 3
    python -m benchmarks.oracle_speed --calls runs/.../oracle_calls.csv --max-molecules 1000 --out ...
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time

import torch
from rdkit import Chem
from rdkit.Chem.Pharm2D import Generate, Gobbi_Pharm2D

from benchmarks.common import RESULTS_DIR, markdown_table, write_results
from benchmarks.molecule_opt import RDKIT_ORACLES
from benchmarks.smiles_env_speed import record
from seqtutor_envs.smiles.guacamol import guacamol_objective
from seqtutor_envs.smiles.pharmacophore import gobbi_2d_fingerprint


def _seconds(fn, items) -> tuple[float, list]:
    start = time.perf_counter()
    out = [fn(x) for x in items]
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-envs", type=int, default=256)
    parser.add_argument("--steps", type=int, default=200, help="vector steps of the prior recorded")
    parser.add_argument("--calls", default=None, help="a PMO run's oracle_calls.csv: time its new molecules instead")
    parser.add_argument("--max-molecules", type=int, default=None, help="at most this many molecules")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(RESULTS_DIR / "oracle_speed.md"))
    args = parser.parse_args()
    torch.set_num_threads(1)

    if args.calls:
        with open(args.calls, newline="") as f:
            finished = [row["canonical_smiles"] for row in csv.DictReader(f) if row["status"] == "new"]
        source = f"the new molecules of `{args.calls}`"
    else:
        _, finished = record(args.num_envs, args.steps, "qed", 0)
        source = "the shipped SMILES prior's samples"
    smiles = [s for s in dict.fromkeys(finished) if Chem.MolFromSmiles(s) is not None][: args.max_molecules]
    mols = [Chem.MolFromSmiles(s) for s in smiles]
    n = len(mols)

    fp_times: dict[str, list[float]] = {"RDKit Gen2DFingerprint": [], "gobbi_2d_fingerprint (numpy)": []}
    oracle_times: dict[str, list[float]] = {name: [] for name in RDKIT_ORACLES}
    mismatches = 0
    for _ in range(args.repeats):  # in turn: every measurement meets the same machine conditions
        t_rdkit, ref = _seconds(lambda m: Generate.Gen2DFingerprint(m, Gobbi_Pharm2D.factory), mols)
        t_ours, ours = _seconds(gobbi_2d_fingerprint, mols)
        mismatches = max(
            mismatches, sum(list(a.GetOnBits()) != list(b.GetOnBits()) for a, b in zip(ref, ours, strict=True))
        )
        fp_times["RDKit Gen2DFingerprint"].append(t_rdkit)
        fp_times["gobbi_2d_fingerprint (numpy)"].append(t_ours)
        for name in RDKIT_ORACLES:
            oracle = guacamol_objective(name)  # fresh: no cached score
            start = time.perf_counter()
            oracle.score_final(smiles)
            oracle_times[name].append(time.perf_counter() - start)

    fp_median = {k: statistics.median(v) for k, v in fp_times.items()}
    base = fp_median["RDKit Gen2DFingerprint"]
    fp_rows = [[k, f"{v / n * 1e3:.2f}", f"{base / v:.1f}"] for k, v in fp_median.items()]
    oracle_rows = sorted(
        ([name, f"{statistics.median(v) / n * 1e3:.2f}"] for name, v in oracle_times.items()),
        key=lambda r: -float(r[1]),
    )
    command = (f"--calls {args.calls}" if args.calls else f"--num-envs {args.num_envs} --steps {args.steps}") + (
        f" --max-molecules {args.max_molecules}" if args.max_molecules else ""
    )
    text = write_results(
        args.out,
        "Oracle and pharmacophore-fingerprint speed",
        f"`python -m benchmarks.oracle_speed {command} "
        f"--repeats {args.repeats}`: {n:,} distinct valid molecules ({source}), one torch thread, medians of "
        f"{args.repeats} interleaved repeats.\n\n"
        f"## Gobbi 2D pharmacophore fingerprint (GuacaMol's PHCO: deco_hop, scaffold_hop)\n\n"
        f"Molecules whose bits differ from RDKit's: **{mismatches} of {n:,}**.\n\n"
        f"{markdown_table(['fingerprint', 'ms per molecule', 'speed-up over RDKit'], fp_rows)}\n\n"
        f"## Each PMO oracle on new molecules (parse, properties, fingerprints, score)\n\n"
        f"{markdown_table(['oracle', 'ms per molecule'], oracle_rows)}\n",
    )
    print(text)


if __name__ == "__main__":
    main()
