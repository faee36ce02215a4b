"""The graph GA: valid, new, bounded children; counted failures; the seed; the pool; the budget; each operator."""

import numpy as np
import pytest
from ga_parents import PARENTS, SCORES
from rdkit import Chem

from seqtutor_envs.smiles import graph_ga_ops as ops
from seqtutor_envs.smiles.graph_ga import GAStats, GraphGA, GraphGAConfig, ring_ok


def _canonical(smiles: str) -> str:
    return Chem.MolToSmiles(Chem.MolFromSmiles(smiles))


def test_children_are_valid_canonical_new_distinct_and_within_the_size_bound():
    cfg = GraphGAConfig(children=40, mutation_rate=0.5, size_mean=30, size_std=0.0)
    off = GraphGA(cfg, rng=0).generation(PARENTS, SCORES)
    assert len(off.smiles) == 40 and off.stats.children == 40 and off.stats.short_generations == 0
    assert len(set(off.smiles)) == 40
    parents = {_canonical(p) for p in PARENTS}
    for child in off.smiles:
        mol = Chem.MolFromSmiles(child)
        assert mol is not None and child == Chem.MolToSmiles(mol)  # canonical, as the scorer writes it
        assert child not in parents and "@" not in child and "." not in child
        assert cfg.min_atoms <= mol.GetNumAtoms() < 30 and ring_ok(mol)
    assert off.mutated.shape == (40,) and 0 < off.mutated.sum() < 40  # mutation_rate 0.5
    assert all(a in PARENTS and b in PARENTS for a, b in off.parents)
    # the chemistry that failed was counted, not hidden
    assert off.stats.unsanitizable > 0 and off.stats.rejected > 0
    assert (
        off.stats.attempts
        == 40
        + off.stats.crossover_failed
        + off.stats.mutation_failed
        + off.stats.known
        + off.stats.repeated
        + off.stats.unencodable
    )


def test_the_seed_fixes_children_and_counts_and_another_seed_changes_them():
    cfg = GraphGAConfig(children=20, mutation_rate=0.3)
    a, b = GraphGA(cfg, rng=np.random.default_rng(7)), GraphGA(cfg, rng=np.random.default_rng(7))
    first, second = a.generation(PARENTS, SCORES), b.generation(PARENTS, SCORES)
    assert first.smiles == second.smiles and first.stats == second.stats and first.parents == second.parents
    assert GraphGA(cfg, rng=8).generation(PARENTS, SCORES).smiles != first.smiles


def test_children_already_scored_or_excluded_are_counted_not_returned():
    cfg = GraphGAConfig(children=15, mutation_rate=0.0)
    first = GraphGA(cfg, rng=3).generation(PARENTS, SCORES)
    again = GraphGA(cfg, rng=3).generation(PARENTS, SCORES, exclude=set(first.smiles))
    assert not set(first.smiles) & set(again.smiles)
    # the same draws remake every earlier child first: each is refused as known
    assert again.stats.known >= len(first.smiles) and first.stats.known + first.stats.repeated > 0
    scored = GraphGA(cfg, rng=3).generation(PARENTS + first.smiles, np.r_[SCORES, np.zeros(15)])
    assert not set(first.smiles) & set(scored.smiles)


def test_the_accept_predicate_filters_children_and_counts_the_refused():
    cfg = GraphGAConfig(children=20, mutation_rate=0.2)
    ga = GraphGA(cfg, rng=1, accept=lambda s: len(s) <= 24)
    off = ga.generation(PARENTS, SCORES)
    assert off.smiles and all(len(s) <= 24 for s in off.smiles)
    assert off.stats.unencodable > 0 and ga.stats.unencodable == off.stats.unencodable


def test_parents_come_from_the_top_of_the_pool_only():
    off = GraphGA(GraphGAConfig(pool_size=3, children=20), rng=2).generation(PARENTS, SCORES)
    top = set(PARENTS[:3])  # SCORES decrease
    assert off.parents and all(a in top and b in top for a, b in off.parents)
    assert off.stats.short_pool == 0 and off.note is None


def test_a_pool_larger_than_the_scored_set_uses_what_exists_and_says_so():
    off = GraphGA(GraphGAConfig(pool_size=1024, children=5), rng=0).generation(PARENTS, SCORES)
    assert len(off.smiles) == 5 and off.stats.short_pool == 1
    assert "pool_size=1024" in off.note and "10 molecules" in off.note


def test_unreadable_parents_are_counted_and_left_out():
    smiles = ["C1CC", "not a smiles", *PARENTS]
    off = GraphGA(GraphGAConfig(children=5), rng=0).generation(smiles, np.r_[[9.0, 8.0], SCORES])
    assert off.stats.invalid_parents == 2 and len(off.smiles) == 5
    assert all("C1CC" not in pair and "not a smiles" not in pair for pair in off.parents)
    nothing = GraphGA(GraphGAConfig(children=5), rng=0).generation([], [])
    assert nothing.smiles == [] and "no scored molecule" in nothing.note and nothing.stats.short_pool == 1
    empty = GraphGA(GraphGAConfig(children=5), rng=0).generation(["C1CC"], [1.0])
    assert empty.smiles == [] and "no children" in empty.note and empty.stats.invalid_parents == 1


def test_a_candidate_rdkit_cannot_sanitise_is_skipped_and_counted():
    ga, stats = GraphGA(rng=0), GAStats()
    pentavalent = Chem.RWMol(Chem.MolFromSmiles("CC(C)(C)C", sanitize=False))
    pentavalent.AddAtom(Chem.Atom(6))
    pentavalent.AddBond(1, 5, Chem.BondType.SINGLE)
    assert ga._check(pentavalent, stats) is None and stats.unsanitizable == 1 and stats.rejected == 0
    small = Chem.RWMol(Chem.MolFromSmiles("CCO"))
    assert ga._check(small, stats) is None and stats.rejected == 1  # fewer than min_atoms
    assert ga._check(Chem.RWMol(Chem.MolFromSmiles("CCCCCCO")), stats) is not None


def test_ring_rules():
    assert ring_ok(Chem.MolFromSmiles("c1ccccc1CC1CC1"))
    assert not ring_ok(Chem.MolFromSmiles("C1CCCCCCC1"))  # an eight-membered ring
    assert not ring_ok(Chem.MolFromSmiles("C1=CC1"))  # a double bond in a three-membered ring
    assert not ring_ok(Chem.MolFromSmiles("C1=C=CCCC1"))  # a ring allene


def test_a_round_scores_each_generation_and_breeds_from_it():
    calls = []

    def score(children):
        calls.append(list(children))
        return np.full(len(children), 5.0)  # better than every parent: the next generation's pool is these

    cfg = GraphGAConfig(pool_size=8, children=8, generations=3)
    result = GraphGA(cfg, rng=4).run_round(PARENTS, SCORES, score)
    assert len(calls) == 3 and [len(c) for c in calls] == [8, 8, 8]
    assert result.smiles == [s for c in calls for s in c] and len(set(result.smiles)) == 24
    np.testing.assert_array_equal(result.scores, np.full(24, 5.0))
    second_parents = {p for pair in result.generations[1].parents for p in pair}
    assert second_parents <= set(calls[0])  # the top-8 pool of generation 2 is generation 1's children
    assert result.stats.generations == 3 and result.stats.children == 24
    stopped = GraphGA(cfg, rng=4).run_round(PARENTS, SCORES, score, should_stop=lambda: True)
    assert len(stopped.generations) == 1


def test_a_budget_smaller_than_one_round_is_refused_with_the_setting_named():
    cfg = GraphGAConfig()  # 8 children x 2 generations
    with pytest.raises(
        ValueError,
        match=r"ga_budget=10 oracle calls is smaller than one graph-GA round "
        r"\(children=8 x generations=2 = 16\)",
    ) as err:
        cfg.check_budget(10, setting="ga_budget")
    assert "\n" not in str(err.value)
    cfg.check_budget(16)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"pool_size": 0}, "pool_size"),
        ({"children": 2.5}, "children"),
        ({"generations": True}, "generations"),
        ({"mutation_rate": 1.5}, "mutation_rate"),
        ({"rank_coefficient": 0.0}, "rank_coefficient"),
        ({"elements": ("C", "Xx")}, "elements"),
        ({"mutation_weights": {"teleport": 1.0}}, "mutation_weights"),
        ({"mutation_weights": {"add_ring": 0.0}}, "mutation_weights"),
    ],
)
def test_bad_settings_are_refused_by_name(kwargs, name):
    with pytest.raises(ValueError, match=f"GraphGAConfig.{name}"):
        GraphGAConfig(**kwargs)


@pytest.mark.parametrize("name", sorted(ops.MUTATIONS))
def test_every_mutation_makes_valid_new_molecules(name):
    parent = Chem.MolFromSmiles("CC(=O)Nc1ccc(OCC2CC2)cc1")
    made = set()
    for seed in range(40):
        base = ops.editable(parent)
        candidate = ops.MUTATIONS[name](
            base, ops.hydrogens(base), np.random.default_rng(seed), frozenset(("C", "N", "O", "F", "S", "Cl", "Br"))
        )
        if candidate is None:
            continue
        try:
            mol = candidate.GetMol()
            Chem.SanitizeMol(mol)
        except Exception:
            continue
        made.add(Chem.MolToSmiles(mol))
    made.discard(Chem.MolToSmiles(parent))
    assert made, f"{name} never made a valid new molecule in 40 tries"


def test_crossovers_join_pieces_of_both_parents():
    a, b = (
        ops.as_parent(ops.editable(Chem.MolFromSmiles(s)).GetMol()) for s in ("CCOc1ccccc1CCN", "Clc1ccc(C2CCNCC2)cc1")
    )
    ga = GraphGA(rng=0)
    for operator in (ops.crossover_chain, ops.crossover_ring):
        children = {
            Chem.MolToSmiles(m)
            for seed in range(20)
            if (m := operator(a, b, np.random.default_rng(seed), lambda rw: ga._check(rw, GAStats()))) is not None
        }
        assert children, operator.__name__
        assert any("Cl" in c and "O" in c for c in children)  # a piece of each parent
