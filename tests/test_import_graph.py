"""How the packages import each other: no import cycle, each floor imports only its floor or those below,
and ``seqtutor --help`` answers without torch or Stable-Baselines3.

The floors (issue 34), top to bottom: the ``seqtutor_agents`` package itself, ``cli`` and ``zoo`` -> ``runs``
-> the learner families (``sequence_tutor``, ``policy_gradient``: neither imports the other) -> ``common``
-> ``seqtutor_envs``, which imports nothing of ``seqtutor_agents``. The graph is read from the source with
``ast`` (no module is imported): every import obeys the floors, function-level ones included; only the
imports that run when a module is imported (not those inside functions or under ``if TYPE_CHECKING``) can
make a cycle, and none may.
"""

from __future__ import annotations

import ast
import graphlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("seqtutor_envs", "seqtutor_agents")
FLOORS = {"runs": 3, "sequence_tutor": 2, "policy_gradient": 2, "common": 1}  # the rest of seqtutor_agents: 4
FAMILY_FLOOR = 2


def module_files(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the packages under ``root``."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _targets(name: str, path: Path, node: ast.Import | ast.ImportFrom, modules: dict[str, Path]) -> set[str]:
    """The package modules an import statement of module ``name`` loads (the most specific one each)."""
    if isinstance(node, ast.Import):
        candidates = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:  # relative: from the module's package, one level up per extra dot
            package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
            package = package[: len(package) - node.level + 1]
            base = ".".join([*package, base] if base else package)
        named = [f"{base}.{alias.name}" for alias in node.names]  # a submodule, or a name defined in ``base``
        candidates = [full if full in modules else base for full in named]
    return {c for c in candidates if c in modules and c != name}


def _imports(tree: ast.AST, deferred: bool = False):
    """``(import node, deferred)``; deferred: in a function or under ``if TYPE_CHECKING`` (later or never)."""
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child, deferred
        later = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) or (
            isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test)
        )
        yield from _imports(child, deferred or later)


def import_graph(root: Path) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """``(at_import, every)``: per module, the package modules it imports when imported, and anywhere."""
    modules = module_files(root)
    at_import: dict[str, set[str]] = {name: set() for name in modules}
    every: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node, deferred in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            targets = _targets(name, path, node, modules)
            every[name] |= targets
            if not deferred:
                # Importing a.b.c runs a and a.b first; the importer's own parent packages are already
                # being imported, so an edge to them is no cycle.
                loaded = {".".join(t.split(".")[:i]) for t in targets for i in range(1, t.count(".") + 2)}
                at_import[name] |= {t for t in loaded & set(modules) - {name} if not name.startswith(t + ".")}
    return at_import, every


def import_cycle(at_import: dict[str, set[str]]) -> list[str] | None:
    """One cycle of module-level imports (``[a, b, ..., a]``), or None."""
    try:
        tuple(graphlib.TopologicalSorter(at_import).static_order())
    except graphlib.CycleError as error:
        return list(error.args[1])
    return None


def floor(module: str) -> int:
    """0 for seqtutor_envs, then common 1, the families 2, runs 3, the rest of seqtutor_agents 4."""
    parts = module.split(".")
    if parts[0] == "seqtutor_envs":
        return 0
    return FLOORS.get(parts[1], 4) if len(parts) > 1 else 4


def floor_violations(every: dict[str, set[str]]) -> list[str]:
    """``"a imports b"`` for each import of a higher floor, or of the other learner family."""
    wrong = []
    for module, targets in every.items():
        for target in sorted(targets):
            if module.startswith(target + "."):
                continue
            families = floor(module) == floor(target) == FAMILY_FLOOR
            other_family = families and module.split(".")[1] != target.split(".")[1]
            if floor(target) > floor(module) or other_family:
                wrong.append(f"{module} imports {target}")
    return sorted(wrong)


def test_no_import_cycle_and_each_floor_imports_only_its_own_or_lower():
    at_import, every = import_graph(ROOT)
    assert len(at_import) > 100  # both packages were read
    assert import_cycle(at_import) is None, f"import cycle: {' -> '.join(import_cycle(at_import))}"
    assert floor_violations(every) == []


def _write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_check_finds_a_planted_cycle_and_planted_floor_violations(tmp_path):
    """The same functions on a small tree with known faults: the test above would fail on each."""
    _write(
        tmp_path,
        {
            "seqtutor_envs/__init__.py": "",
            "seqtutor_envs/a.py": "from seqtutor_envs import b\n",
            "seqtutor_envs/b.py": "from .c import x\n",
            "seqtutor_envs/c.py": "import seqtutor_envs.a\n",  # a -> b -> c -> a
            "seqtutor_envs/later.py": "def f():\n    from seqtutor_agents.runs import training\n",
            "seqtutor_envs/d.py": "def f():\n    from . import e\n",  # d <-> e, deferred both ways: no cycle
            "seqtutor_envs/e.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .d import f\n",
            "seqtutor_agents/__init__.py": "from .runs import training\n",  # the top floor may import any
            "seqtutor_agents/runs/__init__.py": "",
            "seqtutor_agents/runs/training.py": "from ..common import kl\nfrom ..sequence_tutor import q\n",
            "seqtutor_agents/common/__init__.py": "",
            "seqtutor_agents/common/kl.py": "def f():\n    from ..runs.training import train\n",
            "seqtutor_agents/sequence_tutor/__init__.py": "",
            "seqtutor_agents/sequence_tutor/q.py": "from seqtutor_agents.policy_gradient import base\n",
            "seqtutor_agents/policy_gradient/__init__.py": "",
            "seqtutor_agents/policy_gradient/base.py": "import seqtutor_agents.common.kl, seqtutor_envs.a\n",
        },
    )
    at_import, every = import_graph(tmp_path)
    cycle = import_cycle(at_import)
    assert cycle is not None and cycle[0] == cycle[-1]
    assert set(cycle) == {"seqtutor_envs.a", "seqtutor_envs.b", "seqtutor_envs.c"}
    at_import["seqtutor_envs.c"].clear()
    assert import_cycle(at_import) is None  # d <-> e and common.kl <-> runs.training are deferred on one side
    assert floor_violations(every) == [
        "seqtutor_agents.common.kl imports seqtutor_agents.runs.training",
        "seqtutor_agents.sequence_tutor.q imports seqtutor_agents.policy_gradient.base",
        "seqtutor_envs.later imports seqtutor_agents.runs.training",
    ]


def test_a_cycle_through_a_package_init_is_found(tmp_path):
    """f imports pkg.m, which runs pkg/__init__.py first, which imports f: a cycle no single line shows."""
    _write(
        tmp_path,
        {
            "seqtutor_envs/__init__.py": "",
            "seqtutor_envs/f.py": "from seqtutor_envs.pkg.m import x\n",
            "seqtutor_envs/pkg/__init__.py": "from seqtutor_envs import f\n",
            "seqtutor_envs/pkg/m.py": "x = 1\n",
            "seqtutor_agents/__init__.py": "",
        },
    )
    at_import, _ = import_graph(tmp_path)
    assert set(import_cycle(at_import)) == {"seqtutor_envs.f", "seqtutor_envs.pkg"}


HELP_PROBE = """
import sys, time
started = time.perf_counter()
from seqtutor_agents.cli import build_parser, main
try:
    main(["--help"])
except SystemExit as stop:
    assert stop.code == 0, stop.code
seconds = time.perf_counter() - started
commands = next(a for a in build_parser()._actions if a.choices and "train" in a.choices).choices
for command in commands:  # every subcommand's help too: none may need torch either
    try:
        main([command, "--help"])
    except SystemExit as stop:
        assert stop.code == 0, (command, stop.code)
heavy = sorted(m for m in ('torch', 'stable_baselines3') if m in sys.modules)
print(f"HELP {seconds:.3f} {len(commands)} {heavy}")
"""


def test_seqtutor_help_imports_neither_torch_nor_stable_baselines3():
    """``seqtutor --help`` and every subcommand's help in a fresh interpreter load neither torch nor SB3.

    That is what keeps ``--help`` under a second (torch's import alone takes ~2 s here); the time itself is
    not asserted (the project keeps timing assertions out of tests: a loaded machine would fail them).
    """
    proc = subprocess.run([sys.executable, "-c", HELP_PROBE], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "usage: seqtutor" in proc.stdout
    _, _seconds, commands, heavy = proc.stdout.strip().splitlines()[-1].split(" ", 3)
    assert heavy == "[]", f"`seqtutor --help` imported {heavy}"
    assert int(commands) >= 8  # pretrain, train, sample, evaluate, score, demo, report, optimum, ...
