"""A scoring file against the bare RDKit calls it makes, on the prior's samples.

The scoring file is ``examples/scoring/reinvent_example.toml``: the components of REINVENT 4's
documented example (23 unwanted-SMARTS alerts as a filter, QED, molecular weight through a double
sigmoid, TPSA through a double sigmoid, weighted geometric mean). The molecules are ``-n`` (10,000)
samples of the shipped SMILES prior, scored in chunks of ``--chunk`` (500) molecules as an env scores
its batches. For each chunk, the three in turn (their order rotating from chunk to chunk, so that all
three meet the same conditions on this shared machine), and the whole ``--repeats`` times:

(a) the scoring file: a fresh objective (empty caches) scores every sample the way the env asks it to
    (:meth:`~seqtutor_envs.smiles.scoring_function.ScoringFunction.evaluate`: canonical SMILES, each
    component's raw and transformed value, the aggregate);
(b) bare RDKit, as a script would call it: ``Chem.MolFromSmiles``, ``QED.qed``, ``Descriptors.MolWt``,
    ``Descriptors.TPSA`` and ``HasSubstructMatch`` of each alert (stopping at the first match) per sample,
    no canonical SMILES, no cache, no transform;
(c) bare RDKit, the calls (a) makes: ``MolFromSmiles``, ``MolToSmiles`` (and a parse of the canonical
    SMILES when the sample is not canonical), QED's properties (MW and TPSA are read from them) and
    ``QED.qed``, one FilterCatalog call for the alerts, in a plain loop.

Each is timed in CPU seconds of this process (``time.process_time``: other processes on the machine do not
count) and in wall-clock seconds. The ratios (a)/(b) and (a)/(c) are the cost of the scoring file over
RDKit alone (the target: at most 1.2). The raw values of (a) are checked against (b)'s. Writes
``benchmarks/results/scoring_file_speed.md``.

    OMP_NUM_THREADS=1 python -m benchmarks.scoring_file_speed
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from rdkit import Chem
from rdkit.Chem import QED, Descriptors

from benchmarks.common import REPO_ROOT, RESULTS_DIR, markdown_table, write_results
from seqtutor_envs.optimum import sample_prior
from seqtutor_envs.smiles.components import CustomAlerts
from seqtutor_envs.smiles.scoring import qed_properties
from seqtutor_envs.smiles.scoring_file import load_scoring_file

ENV_ID = "SeqTutor-SMILES-v0"
SCORING = REPO_ROOT / "examples" / "scoring" / "reinvent_example.toml"


def _alerts(path: Path) -> tuple[list[Chem.Mol], object]:
    """The file's alert SMARTS as query molecules, and its alert component's FilterCatalog."""
    fn = load_scoring_file(path)
    alerts = next(c.component for c in fn.components if isinstance(c.component, CustomAlerts))
    return [Chem.MolFromSmarts(s) for s in alerts.params["smarts"]], alerts.catalog


class Clock:
    """CPU and wall seconds summed over the chunks a method scored."""

    def __init__(self) -> None:
        self.cpu = self.wall = 0.0

    def time(self, fn, *args):
        cpu, wall = time.process_time(), time.perf_counter()
        out = fn(*args)
        self.cpu += time.process_time() - cpu
        self.wall += time.perf_counter() - wall
        return out


def script(smiles: list[str], queries: list[Chem.Mol]) -> list:
    """(b): QED, MW, TPSA and the alert verdict of each sample, as a script would compute them."""
    out = []
    for s in smiles:
        mol = Chem.MolFromSmiles(s)
        if mol is None:
            out.append(None)
            continue
        alert = any(mol.HasSubstructMatch(q) for q in queries)
        out.append((QED.qed(mol), Descriptors.MolWt(mol), Descriptors.TPSA(mol), alert))
    return out


def same_calls(smiles: list[str], catalog: object) -> None:
    """(c): the RDKit calls the scoring file makes, in a plain loop."""
    for s in smiles:
        mol = Chem.MolFromSmiles(s)
        if mol is None:
            continue
        canon = Chem.MolToSmiles(mol)
        if canon != s:
            mol = Chem.MolFromSmiles(canon)
        props = qed_properties(mol)
        QED.qed(mol, qedProperties=props)
        catalog.HasMatch(mol)  # MW and TPSA: props.MW and props.PSA, computed already


def one_repeat(path: Path, smiles: list[str], chunk: int, queries: list, catalog: object) -> tuple[dict, object, list]:
    """Every chunk scored by (a), (b) and (c) in rotating order; the clocks, (a)'s table and (b)'s values."""
    fn = load_scoring_file(path)  # fresh: no cached molecule
    clocks = {key: Clock() for key in ("file", "script", "same")}
    tables, values = [], []
    for k, start in enumerate(range(0, len(smiles), chunk)):
        part = smiles[start : start + chunk]
        jobs = [
            ("file", lambda part=part: tables.append(clocks["file"].time(fn.evaluate, part))),
            ("script", lambda part=part: values.extend(clocks["script"].time(script, part, queries))),
            ("same", lambda part=part: clocks["same"].time(same_calls, part, catalog)),
        ]
        for _, job in jobs[k % 3 :] + jobs[: k % 3]:
            job()
    return clocks, tables, values


def differences(names: list[str], valid: np.ndarray, raws: np.ndarray, script: list) -> tuple[int, float]:
    """Molecules whose validity or alert verdict differ, and the largest QED, MW or TPSA difference."""
    mismatched, largest = 0, 0.0
    for i, ref in enumerate(script):
        if ref is None:
            mismatched += int(valid[i])
            continue
        qed, mw, tpsa, alert = ref
        raw = raws[i]
        mismatched += int((raw[names.index("Alerts")] == 0.0) != alert)
        largest = max(largest, *(abs(raw[names.index(k)] - v) for k, v in (("QED", qed), ("MW", mw), ("TPSA", tpsa))))
    return mismatched, largest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--num", type=int, default=10_000, help="prior samples scored")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=500, help="molecules per scoring call")
    parser.add_argument("--scoring", default=str(SCORING))
    parser.add_argument("--out", default=str(RESULTS_DIR / "scoring_file_speed.md"))
    args = parser.parse_args()
    torch.set_num_threads(1)

    smiles = list(sample_prior(ENV_ID, args.num, args.seed, progress=False, cache=False).sequences)
    queries, catalog = _alerts(Path(args.scoring))
    runs = [one_repeat(Path(args.scoring), smiles, args.chunk, queries, catalog) for _ in range(args.repeats)]
    cpu = {k: statistics.median(r[0][k].cpu for r in runs) for k in ("file", "script", "same")}
    wall = {k: statistics.median(r[0][k].wall for r in runs) for k in ("file", "script", "same")}
    valid = np.concatenate([t.valid for t in runs[-1][1]])
    raw = np.concatenate([t.raw for t in runs[-1][1]])
    mismatched, largest = differences(list(runs[-1][1][0].names), valid, raw, runs[-1][2])
    n, distinct = len(smiles), len(set(smiles))
    labels = {
        "file": "(a) the scoring file (`evaluate`, fresh caches)",
        "script": "(b) bare RDKit, as a script calls it",
        "same": "(c) bare RDKit, the calls (a) makes",
    }
    rows = [
        [labels[k], f"{cpu[k]:.2f}", f"{cpu['file'] / cpu[k]:.2f}", f"{wall[k]:.2f}", f"{wall['file'] / wall[k]:.2f}"]
        for k in labels
    ]
    scoring = Path(args.scoring).resolve()
    shown = scoring.relative_to(REPO_ROOT) if scoring.is_relative_to(REPO_ROOT) else scoring
    text = write_results(
        args.out,
        "Scoring file speed: REINVENT 4's example components against bare RDKit",
        f"`OMP_NUM_THREADS=1 python -m benchmarks.scoring_file_speed -n {args.num} --seed {args.seed} --repeats "
        f"{args.repeats} --chunk {args.chunk}`: `{shown}` (alerts filter, QED, MW and TPSA double sigmoids, "
        f"geometric mean) on {n:,} samples of the shipped SMILES prior ({int(valid.sum()):,} valid, "
        f"{distinct:,} distinct strings) in chunks of {args.chunk}, the three methods in rotating order on each "
        "chunk, one torch thread; medians of "
        f"{args.repeats} repeats of the sums over the chunks.\n\n"
        f"{markdown_table(['scoring', 'CPU seconds', '(a) / this', 'wall seconds', '(a) / this'], rows)}\n\n"
        f"In CPU time the scoring file takes **{cpu['file'] / cpu['script']:.2f}x** the time of the bare RDKit "
        f"script and **{cpu['file'] / cpu['same']:.2f}x** that of its own RDKit calls (target: at most 1.2x); in "
        f"wall-clock time {wall['file'] / wall['script']:.2f}x and {wall['file'] / wall['same']:.2f}x. "
        f"Its raw values against the script's: {mismatched} of {n:,} samples differ in validity or the alert "
        f"verdict; the largest QED, MW or TPSA difference is {largest:.2g} (the scoring file computes on the "
        "canonical SMILES' atom order, which can change the last bits of a sum).\n",
    )
    print(text)


if __name__ == "__main__":
    main()
