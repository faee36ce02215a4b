"""The graph GA alone: children per second and what its operators make from the prior's molecules; a PMO sanity run.

Part 1 (speed): the parents are distinct valid molecules the shipped SMILES prior writes
(``--steps`` vector steps of ``--num-envs`` envs, as :mod:`benchmarks.smiles_env_speed` records
them), ranked by QED. ``--generations`` generations of ``--children`` children each (the other
settings Genetic GFN's), every child also asked to be encodable by the prior (``max_length`` 100).
Reported: children per second; of the reproductions tried, the share that gave a valid
(sanitisable, rule-abiding) child, the share of valid children that were new (not a parent),
unique (not made twice in their generation) and encodable; and the prior's log-likelihood per
token of the children against the parents' (how far off the prior's distribution they are).

Part 2 (``--pmo``, sanity of the operators against PMO's Graph GA): the GA alone, no network, on
PMO oracles with the project's :class:`~seqtutor_envs.smiles.pmo.OracleLog` (10,000 calls): the
first ``--initial`` distinct prior molecules are scored (calls), then GA rounds -- children drawn
from the best scored molecules, scored, added -- until the budget is spent. Top-10 AUC next to
PMO's Graph GA figure. Two settings: PMO's Graph GA as tuned in PMO (population 120, 70 offspring
per generation, mutation rate 0.067; parents rank-based here, not score-proportional) and Genetic
GFN's GA (pool 1024, 8 children x 2 generations, mutation rate 0.01).

    OMP_NUM_THREADS=1 python -m benchmarks.graph_ga_speed --generations 20 --children 100 \\
        --pmo zaleplon_mpo perindopril_mpo --pmo-seeds 0 1 2
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from benchmarks.common import (
    RESULTS_DIR,
    machine_description,
    markdown_table,
    write_results,
)
from benchmarks.molecule_opt import PMO_REFERENCE
from benchmarks.smiles_env_speed import record
from seqtutor_envs.smiles.env import SmilesEnv
from seqtutor_envs.smiles.external import EpisodeEncoder
from seqtutor_envs.smiles.graph_ga import GAStats, GraphGA, GraphGAConfig
from seqtutor_envs.smiles.guacamol import guacamol_objective
from seqtutor_envs.smiles.pmo import OracleLog, top_k_auc
from seqtutor_envs.smiles.scoring import MoleculeScorer, parse_smiles

#: PMO's tuned Graph GA (population 120, offspring 70, mutation 0.067) and Genetic GFN's GA settings.
PMO_GA = GraphGAConfig(pool_size=120, parents=120, children=70, generations=1, mutation_rate=0.067)
GENETIC_GFN_GA = GraphGAConfig()
#: Entry of a PMO_REFERENCE row holding PMO's Graph GA (mean, std) (the first is REINVENT's).
GRAPH_GA_COLUMN = 1


def prior_molecules(num_envs: int, steps: int) -> list[str]:
    """Distinct valid canonical molecules the shipped prior writes, in the order written."""
    _, finished = record(num_envs, steps, "qed", 0)
    scorer = MoleculeScorer()
    return [c for c in dict.fromkeys(scorer.canonical_batch(finished)) if c is not None]


def per_token_log_likelihood(encoder: EpisodeEncoder, smiles: list[str]) -> float:
    ext = encoder.episodes(smiles, scores=np.zeros(len(smiles)))
    return float(ext.prior_log_likelihood().sum() / ext.lengths.sum())


def speed(parents: list[str], generations: int, children: int, seed: int) -> dict[str, float]:
    """Part 1: generations of children from the prior's molecules; rates of the reproductions."""
    encoder = EpisodeEncoder.from_env(SmilesEnv(objective="qed"))
    scores = MoleculeScorer().score(parents, ("qed",))["qed"]
    ga = GraphGA(GraphGAConfig(children=children), rng=seed, accept=encoder.encodable)
    made: list[str] = []
    start = time.perf_counter()
    for _ in range(generations):
        made += ga.generation(parents, scores).smiles
    seconds = time.perf_counter() - start
    s: GAStats = ga.stats
    valid = s.attempts - s.crossover_failed - s.mutation_failed
    return {
        "children": len(made),
        "seconds": seconds,
        "children_per_s": len(made) / seconds,
        "attempts": s.attempts,
        "valid": valid / s.attempts,
        "novel": (valid - s.known) / valid,
        "unique": (valid - s.known - s.repeated) / (valid - s.known),
        "encodable": 1 - s.unencodable / (valid - s.known - s.repeated),
        "unsanitizable_per_child": s.unsanitizable / max(len(made), 1),
        "mutated": s.mutations / s.attempts,
        "ll_parents": per_token_log_likelihood(encoder, parents),
        "ll_children": per_token_log_likelihood(encoder, made),
    }


def ga_alone(oracle: str, initial: list[str], config: GraphGAConfig, seed: int, budget: int) -> dict[str, float]:
    """Part 2: the GA alone on one PMO oracle under the OracleLog; top-10 AUC and wall time."""
    log = OracleLog(guacamol_objective(oracle), budget=budget)
    encoder = EpisodeEncoder.from_env(SmilesEnv(objective="qed"))
    config.check_budget(budget - len(initial), setting="budget after the initial pool")
    ga = GraphGA(config, rng=seed, accept=encoder.encodable)
    start = time.perf_counter()
    log.score_final(initial)
    stalled = 0
    while not log.exhausted and stalled < 10:
        smiles, scores = log.ordered()
        result = ga.run_round(smiles, scores, log.score_final, exclude=log.scores, should_stop=lambda: log.exhausted)
        stalled = 0 if result.smiles else stalled + 1
    seconds = time.perf_counter() - start
    _, scores = log.ordered(budget)
    return {
        "auc": top_k_auc(scores, k=10, budget=budget),
        "calls": log.calls,
        "minutes": seconds / 60,
        "top1": float(scores.max()),
        "children": ga.stats.children,
    }


def pmo_section(oracles: list[str], initial: list[str], seeds: list[int], budget: int) -> str:
    """Part 2's table: each oracle under both GA settings, every seed's top-10 AUC and their mean."""
    rows = []
    for oracle in oracles:
        reference = PMO_REFERENCE[oracle][GRAPH_GA_COLUMN]
        for name, config in (("PMO Graph GA settings", PMO_GA), ("Genetic GFN GA settings", GENETIC_GFN_GA)):
            runs = [ga_alone(oracle, initial, config, seed, budget) for seed in seeds]
            aucs = [g["auc"] for g in runs]
            rows.append(
                [
                    oracle,
                    name,
                    f"**{np.mean(aucs):.3f}**",
                    " / ".join(f"{a:.3f}" for a in aucs),
                    f"{reference[0]:.3f} ± {reference[1]:.3f}",
                    f"{max(g['top1'] for g in runs):.3f}",
                    " / ".join(f"{g['minutes']:.2f}" for g in runs),
                ]
            )
    return "\n".join(
        [
            f"## The GA alone on PMO oracles (top-10 AUC, {budget:,} calls; the first {len(initial)} distinct prior "
            f"molecules scored first; seeds {', '.join(map(str, seeds))}; parents rank-based, k = 0.01)",
            "",
            markdown_table(
                [
                    "oracle",
                    "GA settings",
                    "top-10 AUC, mean",
                    "per seed",
                    "PMO Graph GA (mean ± std)",
                    "best score",
                    "minutes per run",
                ],
                rows,
            ),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-envs", type=int, default=256)
    parser.add_argument("--steps", type=int, default=120, help="vector steps of the prior recorded (parents)")
    parser.add_argument("--generations", type=int, default=20)
    parser.add_argument("--children", type=int, default=100, help="children per generation (part 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pmo", nargs="*", default=[], help="PMO oracles for the GA-alone run (part 2)")
    parser.add_argument("--pmo-seeds", type=int, nargs="+", default=[0], help="seeds of the GA-alone runs")
    parser.add_argument("--initial", type=int, default=200, help="prior molecules scored first (part 2)")
    parser.add_argument("--budget", type=int, default=10_000)
    parser.add_argument("--out", default=str(RESULTS_DIR / "graph_ga_speed.md"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    machine = machine_description()
    load_before = os.getloadavg()[0]
    molecules = prior_molecules(args.num_envs, args.steps)
    parents = [s for s in molecules if parse_smiles(s) is not None]
    if len(parents) < 2:
        parser.error(
            f"--steps {args.steps} x --num-envs {args.num_envs} gave {len(parents)} valid molecules: "
            "too few parents; raise --steps"
        )
    r = speed(parents, args.generations, args.children, args.seed)
    lines = [
        f"## Children of the prior's molecules ({len(parents):,} parents, ranked by QED; {args.generations} "
        f"generations of {args.children} children, Genetic GFN's other settings; one thread)",
        "",
        markdown_table(
            ["measure", "value"],
            [
                ["children made", f"{r['children']:,} in {r['seconds']:.2f} s"],
                ["children per second", f"**{r['children_per_s']:.0f}**"],
                ["reproductions tried", f"{r['attempts']:,}"],
                ["valid: share of reproductions that gave a sanitisable child within the rules", f"{r['valid']:.3f}"],
                ["novel: share of valid children that were not a parent", f"{r['novel']:.3f}"],
                ["unique: share of novel children not made twice in their generation", f"{r['unique']:.3f}"],
                ["encodable: share of those the prior can write (max_length 100)", f"{r['encodable']:.3f}"],
                ["candidate graphs RDKit refused, per child returned", f"{r['unsanitizable_per_child']:.1f}"],
                ["prior log-likelihood per token, parents", f"{r['ll_parents']:.3f}"],
                ["prior log-likelihood per token, children", f"{r['ll_children']:.3f}"],
            ],
        ),
    ]
    if args.pmo:
        lines += ["", pmo_section(args.pmo, molecules[: args.initial], args.pmo_seeds, args.budget)]
    lines.insert(
        0,
        f"Load average (1 min) of the machine at the start and the end: {load_before:.1f}, "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other processes slow a shared machine).",
    )
    lines.insert(1, "")
    write_results(args.out, "Graph GA alone: speed and offspring", "\n".join(lines) + "\n", machine)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
