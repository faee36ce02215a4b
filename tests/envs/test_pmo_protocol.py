"""The PMO protocol against PMO's own code: mol_opt's Oracle and top_auc, REINVENT's early stop, oracle_calls.csv.

``MolOptOracle``, ``mol_opt_top_auc`` and ``reinvent_stop_step`` below are transcriptions of
``wenhao-gao/mol_opt`` (``main/optimizer.py``: ``top_auc``, ``Oracle.score_smi``, ``Oracle.__call__``,
``Oracle.finish``; ``main/reinvent/run.py``: the early stop), with only its printing, SA / diversity
logging and yaml saving left out. The same scripted streams go through them and through
:class:`~seqtutor_envs.smiles.pmo.OracleLog`.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
from rdkit import Chem

from seqtutor_envs.smiles.objective import Objective
from seqtutor_envs.smiles.pmo import CALL_COLUMNS, OracleLog, top_k_auc


# ---- mol_opt, transcribed ----------------------------------------------------------------------
def mol_opt_top_auc(buffer, top_n, finish, freq_log, max_oracle_calls):
    sum = 0
    prev = 0
    called = 0
    ordered_results = sorted(buffer.items(), key=lambda kv: kv[1][1], reverse=False)
    for idx in range(freq_log, min(len(buffer), max_oracle_calls), freq_log):
        temp_result = ordered_results[:idx]
        temp_result = sorted(temp_result, key=lambda kv: kv[1][0], reverse=True)[:top_n]
        top_n_now = np.mean([item[1][0] for item in temp_result])
        sum += freq_log * (top_n_now + prev) / 2
        prev = top_n_now
        called = idx
    temp_result = sorted(ordered_results, key=lambda kv: kv[1][0], reverse=True)[:top_n]
    top_n_now = np.mean([item[1][0] for item in temp_result])
    sum += (len(buffer) - called) * (top_n_now + prev) / 2
    if finish and len(buffer) < max_oracle_calls:
        sum += (max_oracle_calls - len(buffer)) * top_n_now
    return sum / max_oracle_calls


class MolOptOracle:
    """mol_opt's ``Oracle``; ``logged`` holds the top-k AUC of every ``log_intermediate`` (the last one is reported)."""

    def __init__(self, evaluator, max_oracle_calls, freq_log, top_n, canonical=None):
        self.evaluator, self.max_oracle_calls, self.freq_log, self.top_n = evaluator, max_oracle_calls, freq_log, top_n
        self.canonical = canonical  # None: RDKit, as mol_opt
        self.mol_buffer = {}
        self.last_log = 0
        self.logged = []

    def sort_buffer(self):
        self.mol_buffer = dict(sorted(self.mol_buffer.items(), key=lambda kv: kv[1][0], reverse=True))

    def log_intermediate(self, finish=False):
        self.logged.append(mol_opt_top_auc(self.mol_buffer, self.top_n, finish, self.freq_log, self.max_oracle_calls))

    def __len__(self):
        return len(self.mol_buffer)

    def score_smi(self, smi):
        if len(self.mol_buffer) > self.max_oracle_calls:
            return 0
        if smi is None:
            return 0
        if self.canonical is not None:
            smi = self.canonical(smi)
            if smi is None:
                return 0
        else:
            mol = Chem.MolFromSmiles(smi)
            if mol is None or len(smi) == 0:
                return 0
            smi = Chem.MolToSmiles(mol)
        if smi in self.mol_buffer:
            pass
        else:
            self.mol_buffer[smi] = [float(self.evaluator(smi)), len(self.mol_buffer) + 1]
        return self.mol_buffer[smi][0]

    def __call__(self, smiles_lst):
        score_list = []
        for smi in smiles_lst:
            score_list.append(self.score_smi(smi))
            if len(self.mol_buffer) % self.freq_log == 0 and len(self.mol_buffer) > self.last_log:
                self.sort_buffer()
                self.log_intermediate()
                self.last_log = len(self.mol_buffer)
        return score_list

    @property
    def finish(self):
        return len(self.mol_buffer) >= self.max_oracle_calls


def reinvent_stop_step(oracle: MolOptOracle, batches, patience_limit):
    """REINVENT's loop in mol_opt, one batch per step: ``(step, why)`` it breaks at, or None."""
    patience = 0
    for step, smiles in enumerate(batches):
        if len(oracle) > 100:
            oracle.sort_buffer()
            old_scores = [item[1][0] for item in list(oracle.mol_buffer.items())[:100]]
        else:
            old_scores = 0
        oracle(smiles)
        if oracle.finish:
            return step, "budget"
        if len(oracle) > 1000:
            oracle.sort_buffer()
            new_scores = [item[1][0] for item in list(oracle.mol_buffer.items())[:100]]
            if new_scores == old_scores:
                patience += 1
                if patience >= patience_limit:
                    oracle.log_intermediate(finish=True)
                    return step, "converged"
            else:
                patience = 0
    return None


# ---- scripted objectives ----------------------------------------------------------------------
class ScriptedObjective(Objective):
    """Scores read from a table by canonical SMILES (0 for anything else), with the real RDKit scorer."""

    name = "scripted"

    def __init__(self, table: dict[str, float], scorer=None) -> None:
        super().__init__(scorer)
        self.table = table
        self.asked: list[str] = []

    def score_final(self, smiles):
        self.asked.extend(smiles)
        return np.array([self.table.get(s, 0.0) for s in smiles], dtype=np.float64)


class NamesScorer:
    """A scorer whose canonical form is the name itself ("!" marks an invalid string): streams of thousands, fast."""

    @staticmethod
    def canonical(s):
        return None if s.startswith("!") else s

    def canonical_batch(self, smiles):
        return [self.canonical(s) for s in smiles]


def canon(s: str) -> str:
    return Chem.MolToSmiles(Chem.MolFromSmiles(s))


# ---- tests ------------------------------------------------------------------------------------
def test_top10_auc_by_hand_with_repeats_invalid_and_an_early_stop_matches_mol_opt():
    """250 alkanes called in order (call i scores i/1000, call 50 scores 0.9), repeats and invalid
    strings between them, then the run stops: top-10 every 100 calls, the last value held to 10,000."""
    chains = ["C" * n for n in range(1, 251)]
    table = {canon(s): n / 1000 for n, s in enumerate(chains, start=1)}
    table[canon(chains[49])] = 0.9
    stream = []
    for n, s in enumerate(chains, start=1):
        stream.append(s)
        if n % 7 == 0:
            stream += [chains[49], "C1CC", "C(("]  # a repeat of the 0.9 molecule, two invalid strings
        if n % 11 == 0:
            stream.append("C" * (n // 2) + "[H]")  # the same alkane written otherwise: a repeat
    batches = [stream[i : i + 64] for i in range(0, len(stream), 64)]

    objective = ScriptedObjective(table)
    log = OracleLog(objective, budget=10_000)
    oracle = MolOptOracle(lambda smi: table[smi], 10_000, 100, 10)
    for batch in batches:
        ours = log.score_final(batch)
        np.testing.assert_array_equal(ours, oracle(batch))
    oracle.log_intermediate(finish=True)  # the optimiser stopped early
    assert log.calls == len(oracle) == 250 and len(objective.asked) == 250  # a repeat or invalid costs nothing
    assert {s: [v, i] for i, (s, v) in enumerate(log.scores.items(), start=1)} == oracle.mol_buffer

    # by hand: top-10 after 100 calls = (0.9 + 0.092 + ... + 0.100) / 10, after 200 = (0.9 + 0.192 + ... + 0.200) / 10,
    # after 250 = (0.9 + 0.242 + ... + 0.250) / 10; trapezoids 0 -> 100 -> 200 -> 250, then 9,750 calls at the
    # last value
    t100, t200, t250 = (0.9 + 0.864) / 10, (0.9 + 1.764) / 10, (0.9 + 2.214) / 10
    by_hand = (100 * (t100 + 0) / 2 + 100 * (t200 + t100) / 2 + 50 * (t250 + t200) / 2 + 9_750 * t250) / 10_000
    assert by_hand == pytest.approx(0.3081555, abs=1e-12)
    auc = top_k_auc(log.ordered(10_000)[1], k=10, freq=100, budget=10_000, finish=True)
    assert auc == pytest.approx(by_hand, abs=1e-12)
    assert auc == pytest.approx(oracle.logged[-1], abs=1e-12)  # what mol_opt reports
    # unpadded, as mol_opt logs during a run (finish=False)
    assert top_k_auc(log.ordered()[1], 10, 100, 10_000, finish=False) == pytest.approx(
        mol_opt_top_auc(oracle.mol_buffer, 10, False, 100, 10_000), abs=1e-12
    )


def test_the_budget_boundary_is_mol_opts():
    """One molecule past the budget is still scored (mol_opt checks ``len > max`` first); then everything scores 0,
    a cached repeat included; the AUC is the one mol_opt logs at the budget-th call."""
    table = {
        canon(s): v
        for s, v in [
            ("CCO", 0.5),
            ("c1ccccc1", 0.2),
            ("CCN", 0.7),
            ("CCCl", 0.9),
            ("CCBr", 0.1),
            ("CCI", 0.3),
            ("CCF", 0.8),
            ("CCS", 0.4),
            ("CCC", 0.6),
        ]
    }
    batches = [
        ["CCO", "OCC", "C1CC", "c1ccccc1", "CCN"],
        ["CCCl", "CCO", "CCBr", "", "CCI", "CCF", "CCS", "CCO", "CCC"],  # the budget (6) is reached at CCI
        ["CCO", "CCCCO"],
    ]
    objective = ScriptedObjective(table)
    log = OracleLog(objective, budget=6)
    oracle = MolOptOracle(lambda smi: table.get(smi, 0.0), 6, 2, 3)
    returned = []
    for batch in batches:
        ours = log.score_final(batch)
        np.testing.assert_array_equal(ours, oracle(batch))
        returned.append(ours.tolist())
    assert returned[0] == [0.5, 0.5, 0.0, 0.2, 0.7]  # OCC is a repeat of CCO, C1CC invalid
    assert returned[1] == [0.9, 0.5, 0.1, 0.0, 0.3, 0.8, 0.0, 0.0, 0.0]  # CCF is call 7 = budget + 1
    assert returned[2] == [0.0, 0.0]  # past the budget even the cached CCO scores 0
    assert log.exhausted and log.stopped and log.calls == len(oracle) == 7
    assert {s: [v, i] for i, (s, v) in enumerate(log.scores.items(), start=1)} == oracle.mol_buffer
    assert objective.asked == ["CCO", "c1ccccc1", "CCN", "CCCl", "CCBr", "CCI", "CCF"]  # the rest never scored
    # mol_opt logged at calls 2, 4 and 6 (not 7): the reported figure covers the first 6 calls, unpadded
    assert len(oracle.logged) == 3
    assert top_k_auc(log.ordered(6)[1], k=3, freq=2, budget=6) == pytest.approx(oracle.logged[-1], abs=1e-12)
    # by hand: top-3 after 2 calls (0.5, 0.2) = 0.35, after 4 (0.9, 0.7, 0.5) = 0.7, after 6 the same
    assert oracle.logged[-1] == pytest.approx((2 * (0.35 + 0) / 2 + 2 * (0.7 + 0.35) / 2 + 2 * (0.7 + 0.7) / 2) / 6)
    assert log.generated == 11 and log.valid == 9  # strings scored before the stop ("" and C1CC invalid)


class NamedObjective(Objective):
    """Molecule ``m<i>`` scores i / 2000 (names stand for molecules; see :class:`NamesScorer`)."""

    name = "named"

    def __init__(self) -> None:
        super().__init__(NamesScorer())

    def score_final(self, smiles):
        return np.array([value_of(s) for s in smiles], dtype=np.float64)


def value_of(name: str) -> float:
    return float(name[1:]) / 2000


def molecule_steps(first: int, last: int) -> list[list[str]]:
    """Steps of 64 strings: molecules ``m<first>`` .. ``m<last - 1>`` (each better than the ones before),
    an invalid string after every 50, the last step filled up with repeats of ``m0``."""
    flat = []
    for i in range(first, last):
        flat.append(f"m{i}")
        if i % 50 == 0:
            flat.append("!bad")
    steps = [flat[i : i + 64] for i in range(0, len(flat), 64)]
    steps[-1] += ["m0"] * (64 - len(steps[-1]))
    return steps


#: A step that changes nothing: repeats of low scorers.
IDLE = [f"m{i}" for i in range(64)]


def run_ours(steps, patience, budget=10_000):
    """Each step through :class:`OracleLog` (a call of 64 strings = a REINVENT step): ``(step, why)`` it stops at."""
    log = OracleLog(NamedObjective(), budget=budget, early_stop_patience=patience)
    for step, batch in enumerate(steps):
        log.score_final(batch)
        if log.exhausted:
            return (step, "budget"), log
        if log.converged:
            return (step, "converged"), log
    return None, log


def run_reinvent(steps, patience, budget=10_000):
    oracle = MolOptOracle(value_of, budget, 100, 10, canonical=NamesScorer.canonical)
    return reinvent_stop_step(oracle, steps, patience)


def test_reinvent_early_stop_triggers_by_its_rule_and_not_before():
    steps = molecule_steps(0, 1_100) + [IDLE] * 6  # 1,100 calls in 18 steps, then steps that change nothing
    first_idle = len(steps) - 6
    assert run_reinvent(steps, 5) == (first_idle + 4, "converged")  # the 5th unchanged step
    stop, log = run_ours(steps, 5)
    assert stop == (first_idle + 4, "converged") and log.patience == 5 and log.calls == 1_100
    assert run_ours(steps[: first_idle + 4], 5)[0] is None  # 4 unchanged steps: no stop
    assert run_ours(steps, None)[0] is None  # off unless asked for
    assert run_ours(steps, 6)[0] == run_reinvent(steps, 6) == (first_idle + 5, "converged")


def test_reinvent_early_stop_counts_only_past_1000_calls_and_compares_the_100_best_values():
    # 10 unchanged steps at ~600 calls do not count: only the 5 after 1,000 calls do
    steps = molecule_steps(0, 600) + [IDLE] * 10 + molecule_steps(600, 1_100) + [IDLE] * 5
    assert run_reinvent(steps, 5) == (len(steps) - 1, "converged")
    assert run_ours(steps, 5)[0] == (len(steps) - 1, "converged")
    # a new best molecule resets patience ...
    steps = molecule_steps(0, 1_100) + [IDLE] * 3 + [[*IDLE[:-1], "m1999"]] + [IDLE] * 5
    assert run_reinvent(steps, 5) == run_ours(steps, 5)[0] == (len(steps) - 1, "converged")
    assert run_ours(steps[:-1], 5)[0] is None
    # ... a new molecule below the 100 best does not (m00001 scores 0.0005): 2 + 1 + 2 unchanged steps
    steps = molecule_steps(0, 1_100) + [IDLE] * 2 + [[*IDLE[:-1], "m00001"]] + [IDLE] * 2
    assert run_reinvent(steps, 5) == run_ours(steps, 5)[0] == (len(steps) - 1, "converged")


def test_the_budget_ends_a_run_before_the_early_stop_is_checked():
    steps = molecule_steps(0, 1_100) + [IDLE] * 6
    assert run_reinvent(steps, 5, budget=1_050) == run_ours(steps, 5, budget=1_050)[0]
    assert run_ours(steps, 5, budget=1_050)[0][1] == "budget"
    # the 5th unchanged step (64 new low scorers) also spends the budget: REINVENT's ``if self.finish: break`` wins
    low = [f"m0{i}" for i in range(64)]  # m00 .. m063: new molecules, below the 100 best
    steps = molecule_steps(0, 1_100) + [IDLE] * 4 + [low]
    assert run_reinvent(steps, 5, budget=1_164) == (len(steps) - 1, "budget")
    stop, log = run_ours(steps, 5, budget=1_164)
    assert stop == (len(steps) - 1, "budget") and log.calls == 1_164 and not log.converged and log.patience == 4
    assert run_ours(steps, 5, budget=1_165)[0] == (len(steps) - 1, "converged")  # one call short of the budget


def test_oracle_calls_csv_rows(tmp_path):
    path = tmp_path / "oracle_calls.csv"
    table = {canon("CCO"): 0.5, canon("c1ccccc1"): 0.25, canon("CCN"): 0.75, canon("CCCl"): 0.125}
    log = OracleLog(ScriptedObjective(table), budget=2, calls_csv=path)
    log.score_final(["CCO", "OCC", "C1CC"])
    log.annotate(8, [("CCO", -10.5, -9.25), ("OCC", -20.0, None), ("C1CC", -30.0, -29.0)])
    # benzene: call 2 = the budget; CCN: call 3 (mol_opt's extra one); CCO: stopped
    log.score_final(["c1ccccc1", "CCN", "CCO"])
    log.annotate(16)  # a learner that reports no log-likelihoods
    log.flush()
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == CALL_COLUMNS
    got = [
        (
            r["call"],
            r["env_step"],
            r["smiles"],
            r["canonical_smiles"],
            r["status"],
            float(r["score"]),
            r["prior_log_likelihood"],
            r["agent_log_likelihood"],
            r["scaffold"],
        )
        for r in rows
    ]
    assert got == [
        ("1", "8", "CCO", "CCO", "new", 0.5, "-10.5", "-9.25", ""),
        ("", "8", "OCC", "CCO", "repeat", 0.5, "-20.0", "", ""),
        ("", "8", "C1CC", "", "invalid", 0.0, "-30.0", "-29.0", ""),
        ("2", "16", "c1ccccc1", "c1ccccc1", "new", 0.25, "", "", "c1ccccc1"),
        ("3", "16", "CCN", "CCN", "new", 0.75, "", "", ""),
        ("", "16", "CCO", "CCO", "stopped", 0.0, "", "", ""),
    ]
    log.flush()  # nothing new: nothing appended
    assert len(path.read_text().splitlines()) == 7
    log.reset()  # a fresh run replaces the file
    assert not path.exists() and log.calls == 0 and not log.stopped


def logged_run(tmp_path, steps, budget=10_000):
    """A run with no early stop that logs every string (env step = 64 per step) to oracle_calls.csv."""
    path = tmp_path / "oracle_calls.csv"
    log = OracleLog(NamedObjective(), budget=budget, calls_csv=path)
    for step, batch in enumerate(steps):
        log.score_final(batch)
        log.annotate(64 * (step + 1))
        if log.exhausted:
            break
    log.flush()
    return path, log


def test_replaying_a_logged_run_gives_the_calls_and_stop_of_the_same_run_under_another_rule(tmp_path):
    steps = molecule_steps(0, 1_100) + [IDLE] * 3 + [[*IDLE[:-1], "m1999"]] + [IDLE] * 7 + molecule_steps(2_000, 2_300)
    path, full = logged_run(tmp_path, steps)
    assert not full.converged and full.calls == 1_401  # m0 .. m1099, m1999, m2000 .. m2299
    stop, direct = run_ours(steps, 5)
    replayed = OracleLog(NamedObjective(), budget=10_000, early_stop_patience=5)
    assert replayed.replay(path) == 64 * (stop[0] + 1)  # the env step of the step REINVENT stops at
    assert replayed.converged and replayed.calls == direct.calls == 1_101  # m1999 reset patience; m2000.. never come
    assert replayed.ordered()[0] == direct.ordered()[0]  # the same molecules in the same order ...
    np.testing.assert_array_equal(replayed.ordered()[1], direct.ordered()[1])  # ... with the same scores
    assert top_k_auc(replayed.ordered()[1]) == pytest.approx(top_k_auc(direct.ordered()[1]))
    # a smaller budget: the calls up to it, stopping at the step that spends it
    small = OracleLog(NamedObjective(), budget=700)
    assert small.replay(path) == 64 * (run_ours(steps, None, budget=700)[0][0] + 1)
    assert small.ordered(700)[0] == full.ordered(700)[0]
    # no rule that stops within the file: everything replayed, no stop
    again = OracleLog(NamedObjective(), budget=10_000)
    assert again.replay(path) is None and again.calls == full.calls and again.generated == full.generated
    # a lower env-step cap: the strings of the first 300 vector steps (64 env steps each), nothing later
    capped = OracleLog(NamedObjective(), budget=10_000)
    assert capped.replay(path, max_env_step=64 * 300) is None
    assert capped.generated == sum(len(batch) for batch in steps[:300])
    assert capped.ordered()[0] == full.ordered(capped.calls)[0]


def test_replay_names_a_file_that_is_not_an_oracle_calls_csv_and_a_row_it_cannot_read(tmp_path):
    bad = tmp_path / "sequences.csv"
    bad.write_text("episode,step,smiles\n0,8,CCO\n")
    with pytest.raises(ValueError, match=r"sequences.csv is not an oracle-calls CSV: no column .*canonical_smiles"):
        OracleLog(NamedObjective()).replay(bad)
    path, _ = logged_run(tmp_path, molecule_steps(0, 100))
    lines = path.read_text().splitlines()
    lines[3] = lines[3].replace(",new,", ",new,oops,", 1).rsplit(",", 1)[0]  # a score that is not a number
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"oracle_calls.csv, line 4: cannot replay row"):
        OracleLog(NamedObjective()).replay(path)
