"""MkDocs hooks: the parts of the manual that are generated from the code and the results at build time.

* ``<!-- argparse: MODULE:FUNCTION -->`` becomes the command line's reference, one table of options per
  (sub)command, from the :mod:`argparse` parser itself. ``FUNCTION`` either returns the parser
  (``seqtutor_agents.cli:build_parser``) or is a ``main(argv)`` that builds one and parses at once (the corpus
  builders): its parser is caught at ``parse_args`` and nothing else of ``main`` runs.
* ``<!-- algos: table -->`` becomes the table of ``seqtutor train --algo`` learners, from
  :data:`seqtutor_agents.runs.config.ALGOS` (class, family, policy, what ``--target-kl`` adapts, replay,
  defaults).
* ``benchmarks/results/`` is published under ``results/files/``: every results file is a page (or a
  download) of the site, so the manual links to the very files the benchmarks wrote, and a link to a
  file that does not exist fails ``mkdocs build --strict``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import io
import re
import sys
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
RESULTS_URI = "results/files"
MARKER = re.compile(r"<!--\s*(argparse|algos):\s*(.+?)\s*-->")


# ---------------------------------------------------------------------------------------------- results
def on_files(files, config):
    """Add every file of ``benchmarks/results/`` (and its subfolders) under ``results/files/``."""
    for path in sorted(RESULTS.rglob("*")):
        if path.is_file():
            uri = f"{RESULTS_URI}/{path.relative_to(RESULTS).as_posix()}"
            files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files


def _results_page(markdown: str, name: str) -> str:
    """A results file as a page: its text as committed, a note naming it, and no accidental links.

    Results tables hold SMILES such as ``CC[SH](C#N)N`` or ``c1cc[nH]c1``, which Markdown reads as links or
    references: outside code spans, every ``[`` that does not open a link to a file beside it is escaped.
    """

    def escape(text: str) -> str:
        links = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]*)\)")
        out, last = [], 0
        for match in links.finditer(text):
            if (RESULTS / match.group(1)).is_file():
                out += [text[last : match.start()].replace("[", "\\["), match.group(0)]
                last = match.end()
        return "".join([*out, text[last:].replace("[", "\\[")])

    parts = re.split(r"(`[^`\n]*`)", markdown)  # odd items are code spans: left as they are
    body = "".join(part if i % 2 else escape(part) for i, part in enumerate(parts))
    return (
        f'!!! note "`benchmarks/results/{name}`"\n    This page is the results file as the benchmark wrote '
        f"it (command, machine and date are in it).\n\n{body}"
    )


# ---------------------------------------------------------------------------------------------- argparse
class _Caught(Exception):
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        super().__init__(parser.prog)
        self.parser = parser


def _repository_first() -> None:
    """Make ``benchmarks`` the repository's folder when a parser of it is documented.

    It is not an installed package; ``mkdocs`` run as a console script does not put the repository first on
    sys.path, and torchrl 0.14 installs a top-level ``benchmarks`` namespace package of its own that would
    win otherwise (and stays cached in sys.modules once imported).
    """
    sys.path[:] = [str(ROOT), *(p for p in sys.path if p != str(ROOT))]
    if getattr(sys.modules.get("benchmarks"), "__file__", None) is None:
        for name in [m for m in sys.modules if m == "benchmarks" or m.startswith("benchmarks.")]:
            del sys.modules[name]


def load_parser(spec: str) -> argparse.ArgumentParser:
    """The parser that ``MODULE:FUNCTION`` returns or, for a ``main(argv)``, builds before it parses."""
    module_name, _, function_name = spec.partition(":")
    if module_name.split(".")[0] == "benchmarks":
        _repository_first()
    function = getattr(importlib.import_module(module_name), function_name)
    if function_name != "main":
        return function()
    original = argparse.ArgumentParser.parse_args

    def catch(self, *args, **kwargs):
        raise _Caught(self)

    argparse.ArgumentParser.parse_args = catch  # type: ignore[method-assign]
    try:
        function(*(["--help"] if inspect.signature(function).parameters else []))
    except _Caught as caught:
        return caught.parser
    finally:
        argparse.ArgumentParser.parse_args = original  # type: ignore[method-assign]
    raise PluginError(f"{spec} returned without parsing its arguments: no parser to document")


def _cell(text: str) -> str:
    """Plain text in a Markdown table cell: pipes, HTML and emphasis characters escaped, on one line."""
    text = " ".join(str(text).split())
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace("*", "\\*")


def _default(action: argparse.Action) -> str:
    if action.required or action.default in (None, argparse.SUPPRESS) or isinstance(action.default, bool):
        return ""
    if isinstance(action.default, list) and not action.default:
        return ""
    return f"`{action.default}`"


def _options_table(parser: argparse.ArgumentParser) -> list[str]:
    formatter = argparse.HelpFormatter(parser.prog)  # plain: the default has a column of its own
    rows = ["| option | default | |", "|---|---|---|"]
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        names = ", ".join(f"`{name}`" for name in action.option_strings) or f"`{action.metavar or action.dest}`"
        if action.required and action.option_strings:
            names += " (required)"
        if action.choices is not None and not isinstance(action, argparse._SubParsersAction):
            help_text = formatter._expand_help(action) if action.help else ""
            choices = ", ".join(str(c) for c in action.choices)
            if choices not in help_text:
                help_text += f" (one of: {choices})"
        else:
            help_text = formatter._expand_help(action) if action.help else ""
        rows.append(f"| {names} | {_default(action)} | {_cell(help_text)} |")
    return rows


def _usage(parser: argparse.ArgumentParser) -> list[str]:
    return ["```text", parser.format_usage().strip(), "```"]


def render_parser(parser: argparse.ArgumentParser, level: int = 2) -> str:
    """A parser as Markdown: its description, usage and options; each subcommand a section of its own."""
    lines: list[str] = []
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if parser.description:
        lines += [_cell(parser.description), ""]
    lines += [*_usage(parser), ""]
    if len(parser._actions) > 1 + len(subparsers):
        lines += [*_options_table(parser), ""]
    if parser.epilog:
        lines += [_cell(parser.epilog), ""]
    for action in subparsers:
        helps = {choice.dest: choice.help for choice in action._choices_actions}
        for name, sub in action.choices.items():
            lines += [f"{'#' * level} `{sub.prog}`", ""]
            if helps.get(name):
                lines += [_cell(helps[name][0].upper() + helps[name][1:]) + ".", ""]
            lines += [render_parser(sub, level + 1), ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- ALGOS
RECURRENT_POLICIES = ("RecurrentQPolicy", "PriorLSTMPolicy", "MultiInputLstmPolicy")


def algos_table() -> str:
    """The ``--algo`` table, one row per entry of ``ALGOS``."""
    from seqtutor_agents.runs.config import ALGOS

    rows = [
        "| `--algo` | class | family | policy (recurrent?) | `--target-kl` adapts | replay buffer | defaults |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, algo in ALGOS.items():
        recurrent = "yes" if algo.policy in RECURRENT_POLICIES else "no"
        defaults = ", ".join(f"{k}={v}" for k, v in algo.defaults.items())
        rows.append(
            f"| `{name}` | `{algo.cls}` | {algo.family.replace('_', ' ')} | `{algo.policy}` ({recurrent}) | "
            f"{algo.kl_target or '–'} | {'yes' if algo.replay else 'no'} | {_cell(defaults)} |"
        )
    return "\n".join(rows)


# ---------------------------------------------------------------------------------------------- pages
def on_page_markdown(markdown: str, page, config, files) -> str:
    if page.file.src_uri.startswith(f"{RESULTS_URI}/"):
        return _results_page(markdown, page.file.src_uri[len(RESULTS_URI) + 1 :])

    def replace(match: re.Match) -> str:
        kind, argument = match.groups()
        if kind == "algos":
            return algos_table()
        with contextlib.redirect_stdout(io.StringIO()):
            return render_parser(load_parser(argument))

    return MARKER.sub(replace, markdown)
