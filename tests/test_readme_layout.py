"""The manual's "What is inside" (docs/development.md, linked from the README) names every module of the
library, and only modules that exist."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def layout_block() -> str:
    text = (ROOT / "docs" / "development.md").read_text(encoding="utf-8")
    start = text.index("## What is inside")
    return text[text.index("```", start) + 3 : text.index("```", text.index("```", start) + 3)]


def test_every_library_module_is_in_the_layout_and_every_name_there_exists():
    block = layout_block()
    named = set(re.findall(r"([a-z0-9_]+\.py)", block))
    modules = {
        p.name
        for pkg in ("seqtutor_envs", "seqtutor_agents")
        for p in (ROOT / pkg).rglob("*.py")
        if p.name != "__init__.py"
    }
    assert modules - named == set(), f"modules the layout does not mention: {sorted(modules - named)}"
    assert named - modules == set(), f"the layout names files that do not exist: {sorted(named - modules)}"
    for folder in re.findall(r"^(?:  )?([a-z_]+)/", block, flags=re.M):
        assert any(p.is_dir() for p in ROOT.rglob(folder)), folder
