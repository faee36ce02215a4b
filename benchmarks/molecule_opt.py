"""Goal-directed molecule optimisation on SeqTutor-SMILES-v0 under the PMO protocol: the grid.

Each learner fine-tunes the shipped SMILES prior on a GuacaMol/PMO oracle (``guacamol:<name>``)
until 10,000 distinct valid molecules have been scored (PMO's oracle budget), on the same env and
budget for every learner, with the settings ``benchmarks/pmo_tuning.py`` chose on zaleplon_mpo and
perindopril_mpo (``benchmarks/results/pmo_settings.json``), fixed for every oracle as PMO fixes them.
Per run: top-10 AUC (PMO's metric), top-1/10/100 means, validity and uniqueness of what was
generated, IntDiv and distinct Murcko scaffolds of the 100 best, the KL of the agent to the prior.
Published REINVENT and Graph GA top-10 AUC (mean ± std, PMO) are printed beside each oracle, with
the sums over the oracles run. ``--early-stop`` adds REINVENT's early stop of PMO's code (see
``seqtutor_envs/smiles/pmo.py``). Each run writes ``oracle_calls.csv`` (every scored molecule with its
call index, env step, log-likelihoods and scaffold). Trials run on the sweep machinery (Ray Tune or
local processes, resumable). Writes ``benchmarks/results/molecule_opt.{csv,md}``.

    python -m benchmarks.molecule_opt --algos g dap --seeds 0 1 2 --early-stop --resume
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import (
    CONFIGS_DIR,
    RESULTS_DIR,
    markdown_table,
    parse_args,
    repo_relative,
    typed_cell,
    write_text,
)
from benchmarks.sweep import add_sweep_arguments, run_sweep, write_rows
from seqtutor_envs.smiles.env import ENV_ID
from seqtutor_envs.smiles.pmo import EARLY_STOP_PATIENCE

SETTINGS_FILE = RESULTS_DIR / "pmo_settings.json"

#: Published top-10 AUC (mean, std over 5 seeds) of REINVENT (SMILES) and Graph GA from the PMO
#: leaderboard's spreadsheet (Gao et al. 2022; ``../shared/reference/sequence-tutor.md`` section 11), and
#: whether the oracle is RDKit-only (the other three need TDC's downloaded classifiers: out of reach here).
PMO_REFERENCE: dict[str, tuple[tuple[float, float], tuple[float, float], bool]] = {
    "albuterol_similarity": ((0.883, 0.006), (0.839, 0.016), True),
    "amlodipine_mpo": ((0.635, 0.036), (0.661, 0.021), True),
    "celecoxib_rediscovery": ((0.714, 0.067), (0.630, 0.098), True),
    "deco_hop": ((0.667, 0.045), (0.619, 0.005), True),
    "drd2": ((0.946, 0.007), (0.965, 0.013), False),
    "fexofenadine_mpo": ((0.785, 0.006), (0.761, 0.012), True),
    "gsk3b": ((0.866, 0.043), (0.788, 0.070), False),
    "isomers_c7h8n2o2": ((0.852, 0.036), (0.862, 0.066), True),
    "isomers_c9h10n2o2pf2cl": ((0.643, 0.054), (0.719, 0.048), True),
    "jnk3": ((0.783, 0.024), (0.554, 0.151), False),
    "median1": ((0.357, 0.010), (0.295, 0.021), True),
    "median2": ((0.277, 0.008), (0.274, 0.010), True),
    "mestranol_similarity": ((0.619, 0.049), (0.579, 0.023), True),
    "osimertinib_mpo": ((0.837, 0.009), (0.832, 0.006), True),
    "perindopril_mpo": ((0.537, 0.016), (0.539, 0.010), True),
    "qed": ((0.941, 0.000), (0.940, 0.000), True),
    "ranolazine_mpo": ((0.760, 0.009), (0.728, 0.029), True),
    "scaffold_hop": ((0.560, 0.020), (0.518, 0.008), True),
    "sitagliptin_mpo": ((0.022, 0.004), (0.433, 0.075), True),
    "thiothixene_rediscovery": ((0.534, 0.014), (0.479, 0.025), True),
    "troglitazone_rediscovery": ((0.441, 0.033), (0.390, 0.016), True),
    "valsartan_smarts": ((0.179, 0.358), (0.000, 0.000), True),
    "zaleplon_mpo": ((0.358, 0.062), (0.347, 0.030), True),
}
RDKIT_ORACLES = [name for name, (_, _, rdkit) in PMO_REFERENCE.items() if rdkit]
#: Published top-10 AUC (mean of 3 seeds) of the records on the 20 RDKit oracles without prescreening, as
#: ``../shared/reference/sequence-tutor.md`` section 13 collects them (Genetic GFN and Mol GA from their papers,
#: InVirtuoGen from its README): Genetic GFN, Mol GA, InVirtuoGen.
RECORDS: dict[str, tuple[float, float, float]] = {
    "albuterol_similarity": (0.949, 0.896, 0.950),
    "amlodipine_mpo": (0.761, 0.688, 0.733),
    "celecoxib_rediscovery": (0.802, 0.567, 0.798),
    "deco_hop": (0.733, 0.649, 0.748),
    "fexofenadine_mpo": (0.856, 0.825, 0.845),
    "isomers_c7h8n2o2": (0.969, 0.878, 0.968),
    "isomers_c9h10n2o2pf2cl": (0.897, 0.865, 0.874),
    "median1": (0.379, 0.257, 0.342),
    "median2": (0.294, 0.301, 0.288),
    "mestranol_similarity": (0.708, 0.591, 0.797),
    "osimertinib_mpo": (0.860, 0.844, 0.870),
    "perindopril_mpo": (0.595, 0.547, 0.645),
    "qed": (0.942, 0.941, 0.942),
    "ranolazine_mpo": (0.819, 0.804, 0.848),
    "scaffold_hop": (0.615, 0.527, 0.589),
    "sitagliptin_mpo": (0.634, 0.582, 0.709),
    "thiothixene_rediscovery": (0.583, 0.519, 0.625),
    "troglitazone_rediscovery": (0.511, 0.427, 0.595),
    "valsartan_smarts": (0.135, 0.000, 0.210),
    "zaleplon_mpo": (0.552, 0.519, 0.536),
}
RECORD_NAMES = ("Genetic GFN", "Mol GA", "InVirtuoGen")
NAMES = {
    "q": "Q",
    "psi": "Ψ",
    "g": "G",
    "dap": "REINVENT-style (DAP)",
    "klppo": "KL-PPO",
    "ppo": "PPO (SB3)",
    "dpg": "DPG",
    "tb": "TB",
}
#: Per-learner settings when no tuning result exists (``benchmarks/pmo_tuning.py`` writes
#: ``pmo_settings.json``, which wins): the REINVENT-style baseline gets PMO's REINVENT configuration
#: (sigma = 500, i.e. c = 1/500; learning rate 5e-4; batch 64; an experience replay of 24 of its best
#: sequences); the others keep the table's SMILES settings and the env's c for GuacaMol oracles (0.02).
PMO_SETTINGS: dict[str, dict] = {
    "dap": {
        "c": 1 / 500,
        "algo_kwargs": {"learning_rate": 5e-4, "batch_size": 64, "replay_memory": 100, "replay_sample": 24},
    },
}


def load_settings(path: Path | None) -> dict[str, dict]:
    """The tuned settings per learner (c and algorithm arguments), else :data:`PMO_SETTINGS`."""
    if path is None or not path.is_file():
        return dict(PMO_SETTINGS)
    tuned = json.loads(path.read_text())
    keep = ("c", "algo_kwargs", "env_kwargs", "early_stop_patience")
    return {**PMO_SETTINGS, **{algo: {k: v for k, v in entry.items() if k in keep} for algo, entry in tuned.items()}}


def refuse_bad_trials(parser: argparse.ArgumentParser, trials: list[dict]) -> None:
    """Exit 2 with one line, before anything runs, for a trial whose settings cannot run (e.g. a GA round
    over the budget).
    """
    from seqtutor_agents.common.offpolicy import check_genetic_budget

    for trial in trials:
        try:
            check_genetic_budget((trial.get("algo_kwargs") or {}).get("genetic"), int(trial["budget"]))
        except ValueError as exc:
            parser.exit(2, f"{parser.prog}: error: {trial['algo']}: {exc}\n")


def add_early_stop_argument(parser: argparse.ArgumentParser, runs: str = "learner") -> None:
    """``--early-stop [PATIENCE]``: REINVENT's early stop for every run of a grid or tuning (None: as settings say)."""
    parser.add_argument(
        "--early-stop",
        type=int,
        nargs="?",
        const=EARLY_STOP_PATIENCE,
        default=None,
        metavar="PATIENCE",
        help=f"REINVENT's early stop in PMO's code for every {runs} (default: where its settings name it, "
        "as DAP's do): stop once, past 1,000 calls, the 100 best scores "
        f"are unchanged for PATIENCE steps of 64 molecules (default {EARLY_STOP_PATIENCE}, "
        "mol_opt's --patience; the PMO paper's code stopped at 2 x 5 = 10)",
    )


def with_options(
    setting: dict, algo: str, genetic: Any = None, augment: int | None = None, replay_sampling: str | None = None
) -> dict:
    """A learner's setting with the command line's molecule options over it (a copy; None: as the setting says).

    ``genetic`` is a dict of GA settings, or ``"off"``; ``replay_sampling`` goes to the elite memory
    (``replay_buffer_kwargs`` ``elite_sampling``) for G and Ψ, to the learner itself otherwise.
    """
    algo_kwargs = json.loads(json.dumps(setting.get("algo_kwargs", {})))
    if genetic is not None:
        algo_kwargs.pop("genetic", None)
        if genetic != "off":
            algo_kwargs["genetic"] = genetic
    if augment is not None:
        algo_kwargs.pop("augment", None)
        if augment:
            algo_kwargs["augment"] = augment
    if replay_sampling is not None:
        if algo in ("g", "psi", "q"):
            buffer = algo_kwargs.setdefault("replay_buffer_kwargs", {})
            buffer.pop("elite_sampling", None)
            if replay_sampling != "uniform":
                buffer["elite_sampling"] = replay_sampling
        else:
            algo_kwargs.pop("replay_sampling", None)
            if replay_sampling != TABLE_REPLAY_SAMPLING.get(algo, "uniform"):
                algo_kwargs["replay_sampling"] = replay_sampling
    return {**setting, "algo_kwargs": algo_kwargs}


#: The replay sampling a learner uses when its settings name none (TB: Genetic GFN's rank-based).
TABLE_REPLAY_SAMPLING = {"tb": "rank"}


def genetic_argument(text: str) -> Any:
    """``--genetic``: ``off``, or a JSON object of GA settings (``{}``: Genetic GFN's)."""
    if text == "off":
        return text
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected 'off' or a JSON object of graph-GA settings, got {text!r}")
    return value


def add_molecule_arguments(parser: argparse.ArgumentParser) -> None:
    """The off-policy molecule options of issue 35, over every learner's settings."""
    parser.add_argument(
        "--genetic",
        type=genetic_argument,
        default=None,
        metavar="JSON|off",
        help='genetic exploration for every learner: graph-GA settings as JSON, e.g. \'{"children": 8, '
        '"generations": 2, "pool_size": 1024, "mutation_rate": 0.01}\' (\'{}\': Genetic GFN\'s), '
        "or off (default: as each learner's settings say)",
    )
    parser.add_argument(
        "--augment",
        type=int,
        default=None,
        metavar="K",
        help="augmented replay: K extra updates on randomised SMILES (0: off; default: as the settings say)",
    )
    parser.add_argument(
        "--replay-sampling",
        choices=["uniform", "score", "rank"],
        default=None,
        help="how replayed molecules are drawn (G/Psi: their elite memory; default: as the settings say)",
    )


def _mean_std(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}" if len(values) > 1 else f"{values[0]:.3f}"


def per_seed(by: dict[tuple[str, str], list[dict]], algos: list[str]) -> list[str]:
    """Each seed on its own: its sum of top-10 AUC over the RDKit oracles it ran, beside REINVENT's on those.

    The table's sums average whatever seeds an oracle has; a grid that stopped part-way through a seed
    is read here, seed by seed, on the oracles each seed actually ran.
    """
    lines = []
    for algo in algos:
        seeds: dict[int, dict[str, float]] = defaultdict(dict)
        for (oracle, name), runs in by.items():
            if name == algo and oracle in RDKIT_ORACLES:
                for run in runs:
                    seeds[int(run["seed"])][oracle] = float(run["top10_auc"])
        for seed, aucs in sorted(seeds.items()):
            reinvent = sum(PMO_REFERENCE[o][0][0] for o in aucs)
            wins = sum(auc >= PMO_REFERENCE[o][0][0] for o, auc in aucs.items())
            lines.append(
                f"- {NAMES.get(algo, algo)}, seed {seed}: {sum(aucs.values()):.3f} over {len(aucs)} oracles "
                f"(REINVENT's published sum on them {reinvent:.3f}); at or above REINVENT's mean on {wins}"
            )
    return lines


def against_records(by: dict[tuple[str, str], list[dict]], algos: list[str]) -> list[str]:
    """Each learner's per-oracle mean beside the published records (section 13), with wins and minutes per run.

    Only a learner that ran all 20 RDKit oracles gets a sum; wins count oracles at or above Genetic GFN's mean.
    """
    lines = ["Against the records (top-10 AUC, mean over the seeds run; records: mean of 3 seeds, published):", ""]
    header = ["oracle", *RECORD_NAMES, *(NAMES.get(a, a) for a in algos)]
    body, sums = [], defaultdict(float)
    for oracle, published in RECORDS.items():
        cells = [oracle, *(f"{v:.3f}" for v in published)]
        for algo in algos:
            runs = by.get((oracle, algo), [])
            mean = float(np.mean([r["top10_auc"] for r in runs])) if runs else float("nan")
            sums[algo] += mean
            cells.append(f"{mean:.3f}" if runs else "–")
        body.append(cells)
    record_sums = [sum(v[i] for v in RECORDS.values()) for i in range(len(RECORD_NAMES))]
    totals = [f"**{sums[a]:.3f}**" if not np.isnan(sums[a]) else "– (not all 20 run)" for a in algos]
    body.append(["**sum of 20**", *(f"**{v:.3f}**" for v in record_sums), *totals])
    lines += [markdown_table(header, body), ""]
    for algo in algos:
        runs = [r for (o, a), rs in by.items() if a == algo and o in RECORDS for r in rs]
        means = {o: np.mean([r["top10_auc"] for r in by[(o, algo)]]) for o in RECORDS if (o, algo) in by}
        wins = sum(m >= RECORDS[o][0] for o, m in means.items())
        minutes = [float(r["cpu_minutes"]) for r in runs if r.get("cpu_minutes") not in (None, "")]
        timing = (
            f"; CPU minutes per run median {np.median(minutes):.2f}, max {max(minutes):.2f} ({len(minutes)} runs)"
            if minutes
            else ""
        )
        lines.append(
            f"- {NAMES.get(algo, algo)}: at or above Genetic GFN's mean on {wins} of {len(means)} oracles{timing}"
        )
    return lines


def summary(rows: list[dict]) -> str:
    """Per-oracle table beside REINVENT's and Graph GA's published figures, sums and counts under it."""
    by: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in rows:
        if "error" not in row:
            by[(row["oracle"], row["algo"])].append(row)
    oracles = [o for o in PMO_REFERENCE if any(k[0] == o for k in by)] + sorted({k[0] for k in by} - set(PMO_REFERENCE))
    algos = list(dict.fromkeys(k[1] for k in by))
    header = ["oracle", "REINVENT (PMO)", "Graph GA (PMO)"]
    for algo in algos:
        header += [f"{NAMES.get(algo, algo)} top-10 AUC (seeds)", "IntDiv top-100", "scaffolds", "KL/token"]
    table, wins, sums, complete = [], defaultdict(int), defaultdict(float), defaultdict(int)
    for oracle in oracles:
        reinvent, graph_ga, _ = PMO_REFERENCE.get(oracle, ((float("nan"), 0.0), (float("nan"), 0.0), True))
        line = [oracle, f"{reinvent[0]:.3f} ± {reinvent[1]:.3f}", f"{graph_ga[0]:.3f} ± {graph_ga[1]:.3f}"]
        for algo in algos:
            runs = sorted(by.get((oracle, algo), []), key=lambda r: r["seed"])
            if not runs:
                line += ["–"] * 4
                continue
            values = [r["top10_auc"] for r in runs]
            line += [
                f"{_mean_std(values)} ({', '.join(f'{v:.3f}' for v in values)})",
                f"{np.mean([r['top100_intdiv'] for r in runs]):.3f}",
                f"{np.mean([r['top100_scaffolds'] for r in runs]):.0f}",
                f"{np.nanmean([r.get('kl_per_step', np.nan) for r in runs]):.3f}",
            ]
            if oracle in RDKIT_ORACLES:
                sums[algo] += float(np.mean(values))
                complete[algo] += 1
                wins[algo] += bool(np.mean(values) >= reinvent[0])
        table.append(line)
    ran = [o for o in RDKIT_ORACLES if o in oracles]
    lines = [
        markdown_table(header, table),
        "",
        f"Over the {len(ran)} RDKit oracles run here (of {len(RDKIT_ORACLES)}): REINVENT's published sum "
        f"{sum(PMO_REFERENCE[o][0][0] for o in ran):.3f}, Graph GA's {sum(PMO_REFERENCE[o][1][0] for o in ran):.3f}; "
        + "; ".join(
            f"{NAMES.get(a, a)} {sums[a]:.3f} on {complete[a]} oracles, at or above REINVENT's mean on {wins[a]}"
            for a in algos
        )
        + ".",
        "",
        "Seed by seed:",
        "",
        *per_seed(by, algos),
        "",
        *against_records(by, algos),
        "",
        "drd2, gsk3b and jnk3 need TDC's downloaded classifiers and are out of reach here (no download at run time).",
    ]
    return "\n".join(lines)


def read_rows(path: Path) -> list[dict]:
    """The rows of an earlier results CSV (empty cells left out, numbers as numbers).

    :raises FileNotFoundError: naming the file, if it is not there.
    :raises ValueError: if it lacks the columns that identify a run (oracle, algo, seed).
    """
    if not path.is_file():
        raise FileNotFoundError(f"--keep-rows: no results file at {path}")
    with path.open(newline="") as stream:
        reader = csv.DictReader(stream)
        missing = {"oracle", "algo", "seed", "top10_auc"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"--keep-rows: {path} is not a molecule_opt results CSV (no column {sorted(missing)})")
        return [{k: typed_cell(v) for k, v in row.items() if v != ""} for row in reader]


def merge_rows(rows: list[dict], earlier: list[dict]) -> list[dict]:
    """``earlier``, each run replaced by its row in ``rows`` where this sweep has one; then ``rows``' new runs.

    A run is one (oracle, algo, seed): a grid that ran on several machines, or whose run folders are gone
    from this one, keeps its earlier results beside the runs that finished here.
    """

    def key(row: dict) -> tuple:
        seed = row.get("seed")
        return row.get("oracle"), row.get("algo"), None if seed is None else int(seed)

    fresh = {key(row): row for row in rows}
    merged = [fresh.pop(key(row), row) for row in earlier]
    return merged + [row for row in rows if key(row) in fresh]


def write_report(rows: list[dict], out: Path, title: str, note: str, section: str, body: str) -> None:
    """``<out>.csv`` and ``<out>.md`` of the rows with one summary section after them; printed too."""
    text = write_rows(rows, out, title, note) + f"\n## {section}\n\n{body}\n"
    write_text(out.with_suffix(".md"), text)
    print(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--oracles", nargs="+", default=RDKIT_ORACLES, help="default: PMO's 20 RDKit-only oracles")
    # defaults: configs/pmo.toml
    parser.add_argument("--algos", nargs="+")
    parser.add_argument(
        "--settings",
        default=str(SETTINGS_FILE),
        help="per-learner settings chosen by benchmarks/pmo_tuning.py (missing file: built-in ones)",
    )
    parser.add_argument("--seeds", nargs="+", type=int)
    parser.add_argument("--budget", type=int, help="oracle calls (distinct valid molecules)")
    parser.add_argument("--max-steps", type=int, help="env-step cap of a run")
    parser.add_argument("--c", type=float, default=None, help="c for every learner (default: the table's / env's)")
    add_early_stop_argument(parser)
    parser.add_argument(
        "--keep-rows",
        default=None,
        metavar="CSV",
        help="an earlier results CSV (e.g. benchmarks/results/molecule_opt.csv) whose rows are kept for "
        "the runs this sweep has no finished folder of (a grid run on several machines, or "
        "run folders that are gone); a run finished here replaces its earlier row",
    )
    add_molecule_arguments(parser)
    add_sweep_arguments(parser, runs="runs/molecule_opt", out=RESULTS_DIR / "molecule_opt", workers=2)
    args = parse_args(parser, CONFIGS_DIR / "pmo.toml")
    # read now: --out may be the same file
    earlier = read_rows(Path(args.keep_rows)) if args.keep_rows else []
    settings = load_settings(Path(args.settings) if args.settings else None)

    def trial(oracle: str, algo: str, seed: int) -> dict:
        trial = {
            "kind": "pmo",
            "env_id": ENV_ID,
            "oracle": oracle,
            "algo": algo,
            "seed": seed,
            "c": args.c,
            "budget": args.budget,
            "max_steps": args.max_steps,
            "early_stop_patience": None,
            "runs": str(Path(args.runs).resolve()),
            "threads": args.threads,
            **({} if args.c is not None else settings.get(algo, {})),
        }
        if args.early_stop is not None:  # asked for on the command line: every learner stops by it
            trial["early_stop_patience"] = args.early_stop
        return with_options(trial, algo, args.genetic, args.augment, args.replay_sampling)

    trials = [trial(oracle, algo, seed) for oracle in args.oracles for algo in args.algos for seed in args.seeds]
    refuse_bad_trials(parser, trials)
    rows = merge_rows(run_sweep(parser, args, trials), earlier)
    stop = (
        "REINVENT's early stop where a learner's settings name it (patience in steps of 64 molecules, after "
        "1,000 calls); "
        if args.early_stop is None
        else f"REINVENT's early stop for every learner (patience {args.early_stop} steps of 64 molecules, after 1,000 "
        "calls); "
    )
    note = (
        f"PMO protocol: {args.budget:,} distinct valid molecules scored per run; top-10 AUC every 100 calls, the "
        f"last value held to the budget when a run stops short of it; {stop}"
        "Every learner starts from the shipped SMILES prior on SeqTutor-SMILES-v0 with the hyperparameter table's "
        f"SMILES settings{'' if args.c is None else f' and c = {args.c:g}'}"
        + ("" if args.c is not None else f"; per-learner settings ({repo_relative(Path(args.settings))}): {settings}")
        + "."
        + (
            f" Runs with no finished folder under {args.runs} keep their rows of {args.keep_rows}, with the digits "
            "written there (rows written before the CSV kept 8 significant digits hold 4, so a mean of them can "
            "differ from the unrounded one in its last printed digit)."
            if args.keep_rows
            else ""
        )
    )
    write_report(
        rows,
        Path(args.out),
        "Goal-directed optimisation under the PMO protocol",
        note,
        "Top-10 AUC per oracle (mean ± std over seeds, then each seed)",
        summary(rows),
    )


if __name__ == "__main__":
    main()
