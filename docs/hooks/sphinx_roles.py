"""A griffe extension: Sphinx roles as cross-references, and defaults named by a constant shown as its value.

The library's docstrings are reStructuredText-flavoured (``:param x:``, ``:class:``), which mkdocstrings'
Sphinx parser reads for parameters but would print roles as text. Each role becomes an *optional*
autorefs link: a link where the object is documented in this manual, plain code where it is not (a
private helper, SB3's classes), so a role never breaks ``mkdocs build --strict``.

A parameter whose default is a module constant (``c=DEFAULT_C``) is shown with the constant's value
(``10.0``), read statically from the module: the argument tables then state every default.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj|const):`(~?)([A-Za-z_][\w.]*)`")


def _link(match: re.Match) -> str:
    tilde, path = match.groups()
    title = path.rsplit(".", 1)[-1] if tilde else path
    return f'<autoref identifier="{path}" optional><code>{title}</code></autoref>'


class SphinxRoles(griffe.Extension):
    """Rewrite the roles of every docstring once it is loaded."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = ROLE.sub(_link, obj.docstring.value)
        if isinstance(obj, griffe.Function):
            for parameter in obj.parameters:
                constant = obj.module.members.get(str(parameter.default)) if parameter.default is not None else None
                if isinstance(constant, griffe.Attribute) and constant.value is not None:
                    parameter.default = constant.value
