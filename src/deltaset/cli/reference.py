"""References of the ``deltaset`` command and of ``deltaset.Dataset``, generated from the code.

The command reference walks the argparse parser the CLI itself builds, sub-commands of
sub-commands included; the API reference reads the public members of :class:`Dataset`. Nothing
is listed by hand, so a new command, flag or method appears once the files are regenerated::

    python -m deltaset.cli.reference > docs/cli-reference.md     # the command reference
    python -m deltaset.cli.reference --api > docs/api-reference.md
    python -m deltaset.cli.reference --write                     # both, into ./docs
    python -m deltaset.cli.reference --check                     # exit 1 if either is stale

The text depends on nothing but the code: not on the terminal's width, nor on how the running
Python's argparse or inspect would format usage lines and signatures.
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deltaset.cli.examples import example_of

WIDTH = 88  # usage lines and signatures are wrapped here, whatever the terminal
PROGRAM = "deltaset"
REGENERATE = "python -m deltaset.cli.reference --write"


# -- the command tree ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Command:
    """One node of the command tree: ``path`` is ``("server", "token", "create")`` for
    ``deltaset server token create``; the root (``deltaset`` itself) has an empty path."""

    path: tuple[str, ...]
    help: str
    parser: argparse.ArgumentParser

    @property
    def name(self) -> str:
        return " ".join((PROGRAM, *self.path))

    @property
    def sub_commands(self) -> list[Command]:
        return list(_children(self))


def build_parser() -> argparse.ArgumentParser:
    from deltaset.cli.main import build_parser as build

    return build()


def commands(parser: argparse.ArgumentParser | None = None) -> list[Command]:
    """Every command the parser knows, depth first in the order they were registered, the root
    first."""
    parser = parser or build_parser()
    root = Command((), parser.description or "", parser)
    found: list[Command] = []

    def walk(command: Command) -> None:
        found.append(command)
        for child in _children(command):
            walk(child)

    walk(root)
    return found


def _children(command: Command) -> Iterator[Command]:
    for action in command.parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {a.dest: a.help or "" for a in action._choices_actions}
        seen: set[int] = set()
        for name, sub in action.choices.items():
            if id(sub) in seen:  # an alias of a command already listed
                continue
            seen.add(id(sub))
            yield Command((*command.path, name), helps.get(name, ""), sub)


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction[Any] | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def _shown(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The arguments worth documenting: all but ``--help`` and suppressed ones."""
    return [
        a
        for a in parser._actions
        if not isinstance(a, argparse._HelpAction) and a.help is not argparse.SUPPRESS
    ]


def _metavar(action: argparse.Action) -> str:
    """What follows the flag, as argparse's usage writes it (``PATH [PATH ...]``)."""
    if action.nargs == 0:
        return ""
    if isinstance(action, argparse._SubParsersAction):
        return f"{action.metavar or 'COMMAND'} ..."
    if isinstance(action.metavar, str):
        name = action.metavar
    elif action.choices is not None:
        name = "{" + ",".join(str(c) for c in action.choices) + "}"
    else:
        name = action.dest.upper() if action.option_strings else action.dest
    nargs = action.nargs
    if nargs is None:
        return name
    if nargs == argparse.OPTIONAL:
        return f"[{name}]"
    if nargs == argparse.ZERO_OR_MORE:
        return f"[{name} ...]"
    if nargs == argparse.ONE_OR_MORE:
        return f"{name} [{name} ...]"
    if isinstance(nargs, int):
        return " ".join([name] * nargs)
    return f"{name} ..."


def _usage_part(action: argparse.Action) -> str:
    """One argument as usage shows it, without brackets."""
    flag = action.option_strings[0] if action.option_strings else ""
    return " ".join(part for part in (flag, _metavar(action)) if part)


def usage(command: Command) -> str:
    """The usage of ``command``, wrapped at :data:`WIDTH`: options first, then positionals."""
    parser = command.parser
    actions = _shown(parser)
    groups = {id(a): g for g in parser._mutually_exclusive_groups for a in g._group_actions}
    parts: list[str] = []
    done: set[int] = set()
    for action in [a for a in actions if a.option_strings] + [
        a for a in actions if not a.option_strings
    ]:
        if id(action) in done:
            continue
        group = groups.get(id(action))
        members = [a for a in group._group_actions if a in actions] if group else [action]
        done.update(id(a) for a in members)
        text = " | ".join(_usage_part(a) for a in members)
        required = group.required if group else action.required or not action.option_strings
        if isinstance(action, argparse._SubParsersAction):
            required = bool(action.required)
        if len(members) > 1:
            text = f"({text})" if required else f"[{text}]"
        elif not required:
            text = f"[{text}]"
        parts.append(text)
    return _wrap(f"usage: {command.name}", parts)


def _wrap(head: str, parts: Sequence[str]) -> str:
    lines = [head]
    indent = " " * (len(head) + 1)
    for part in parts:
        if len(lines[-1]) + 1 + len(part) > WIDTH and lines[-1].strip() != head.strip():
            lines.append(indent + part)
        else:
            lines[-1] += " " + part
    return "\n".join(lines)


def _help(action: argparse.Action, parser: argparse.ArgumentParser) -> str:
    text = action.help or ""
    if "%(" in text:  # argparse's own expansion, e.g. %(default)s
        text = text % {**vars(action), "prog": parser.prog}
    return " ".join(text.split())


def _default(action: argparse.Action, parser: argparse.ArgumentParser) -> str:
    if action.required:
        return "required"
    for group in parser._mutually_exclusive_groups:
        if group.required and action in group._group_actions:
            return "required: one of " + ", ".join(
                a.option_strings[0] for a in group._group_actions if a.option_strings
            )
    value = action.default
    if action.nargs == 0 or value in (None, "", [], (), argparse.SUPPRESS):
        return ""
    return f"`{value}`"


def _cell(text: str) -> str:
    """Text safe in a Markdown table cell."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*").replace("<", "&lt;")


def _anchor(title: str) -> str:
    """GitHub's anchor of a heading."""
    kept = re.sub(r"[^\w\- ]", "", title.lower())
    return kept.replace(" ", "-")


def _options_table(command: Command) -> list[str]:
    rows = [a for a in _shown(command.parser) if not isinstance(a, argparse._SubParsersAction)]
    if not rows:
        return []
    lines = ["| option | value | default | description |", "|---|---|---|---|"]
    for action in rows:
        flags = ", ".join(f"`{f}`" for f in action.option_strings) or f"`{_metavar(action)}`"
        value = f"`{_metavar(action)}`" if action.option_strings and _metavar(action) else ""
        lines.append(
            f"| {flags} | {_cell(value)} | {_cell(_default(action, command.parser))} "
            f"| {_cell(_help(action, command.parser))} |"
        )
    return [*lines, ""]


def _section(command: Command) -> list[str]:
    lines = [f"## {command.name}", ""]
    if command.help:
        lines += [_cell(_sentence(command.help)), ""]
    lines += ["```text", usage(command), "```", ""]
    example = example_of(command.parser)
    if example:
        lines += ["Example:", "", "```bash", example, "```", ""]
    lines += _options_table(command)
    subs = command.sub_commands
    if subs and command.path:  # the root's are the contents above
        lines += ["Sub-commands:", ""]
        lines += [f"- [`{s.name}`](#{_anchor(s.name)}): {_cell(s.help)}" for s in subs]
        lines.append("")
    return lines


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")


def cli_reference(parser: argparse.ArgumentParser | None = None) -> str:
    """The Markdown reference of every command (``docs/cli-reference.md``)."""
    found = commands(parser)
    lines = [
        "<!-- Generated from the code by `python -m deltaset.cli.reference`; edit the commands,",
        f"     then regenerate with `{REGENERATE}`. -->",
        "",
        "# Command reference",
        "",
        "Every `deltaset` command and sub-command with its options, as the code defines them. "
        "Every command also takes `-h`/`--help`. Commands that work on one version take `--id` "
        "(default: the draft last created by `deltaset create` or `deltaset sync`, until it is "
        "closed, published or deleted) or, where "
        "listed, `--project`/`--name`/`--version`. On failure a command prints one "
        "`error: ...` line and exits non-zero.",
        "",
        "## Contents",
        "",
    ]
    for command in found[1:]:
        depth = "  " * (len(command.path) - 1)
        lines.append(
            f"{depth}- [`{command.name}`](#{_anchor(command.name)}): {_cell(command.help)}"
        )
    lines.append("")
    for command in found:
        lines += _section(command)
    return "\n".join(lines).rstrip("\n") + "\n"


# -- the Python API -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Member:
    """A public member of a class: ``kind`` is ``classmethod``, ``staticmethod``, ``method`` or
    ``property``."""

    name: str
    kind: str
    function: Callable[..., Any]


def api_members(cls: type | None = None) -> list[Member]:
    """The public members of ``cls`` (default :class:`deltaset.Dataset`) in the order the class
    defines them."""
    if cls is None:
        from deltaset.api.dataset import Dataset

        cls = Dataset
    found: list[Member] = []
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, classmethod):
            found.append(Member(name, "classmethod", value.__func__))
        elif isinstance(value, staticmethod):
            found.append(Member(name, "staticmethod", value.__func__))
        elif isinstance(value, property) and value.fget is not None:
            found.append(Member(name, "property", value.fget))
        elif inspect.isfunction(value):
            found.append(Member(name, "method", value))
    return found


def _annotation(value: Any) -> str:
    # Modules with ``from __future__ import annotations`` keep annotations as written.
    return value if isinstance(value, str) else inspect.formatannotation(value)


def _parameters(member: Member) -> list[str]:
    params = list(inspect.signature(member.function).parameters.values())
    if member.kind in ("classmethod", "method") and params:
        params = params[1:]  # cls / self
    shown: list[str] = []
    star_done = False
    for i, param in enumerate(params):
        if param.kind is param.KEYWORD_ONLY and not star_done:
            shown.append("*")
            star_done = True
        prefix = "*" if param.kind is param.VAR_POSITIONAL else ""
        prefix = "**" if param.kind is param.VAR_KEYWORD else prefix
        star_done = star_done or param.kind is param.VAR_POSITIONAL
        text = prefix + param.name
        if param.annotation is not param.empty:
            text += f": {_annotation(param.annotation)}"
            if param.default is not param.empty:
                text += f" = {_value(param.default)}"
        elif param.default is not param.empty:
            text += f"={_value(param.default)}"
        shown.append(text)
        later = params[i + 1] if i + 1 < len(params) else None
        if param.kind is param.POSITIONAL_ONLY and (
            later is None or later.kind is not param.POSITIONAL_ONLY
        ):
            shown.append("/")
    return shown


def _value(default: Any) -> str:
    """A default as code, never with a memory address that changes each run."""
    text = repr(default)
    return "..." if " at 0x" in text else text


def signature(member: Member, owner: str = "Dataset") -> str:
    """``Dataset.create(dataset_name: str | None = None, ...) -> Dataset``, one parameter a
    line when it does not fit in :data:`WIDTH`."""
    returns = inspect.signature(member.function).return_annotation
    tail = "" if returns is inspect.Signature.empty else f" -> {_annotation(returns)}"
    head = f"{owner}.{member.name}"
    if member.kind == "property":
        return head + (f": {_annotation(returns)}" if tail else "")
    params = _parameters(member)
    one_line = f"{head}({', '.join(params)}){tail}"
    if len(one_line) <= WIDTH:
        return one_line
    return "\n".join([f"{head}(", *[f"    {p}," for p in params], f"){tail}"])


def summary(function: Callable[..., Any]) -> str:
    """The first paragraph of a docstring, on one line, Sphinx roles made plain Markdown."""
    doc = inspect.getdoc(function) or ""
    first = " ".join(doc.split("\n\n", 1)[0].split())
    first = re.sub(r":[a-z]+:(`[^`]+`)", r"\1", first)
    return first.replace("``", "`")


def api_reference(cls: type | None = None) -> str:
    """The Markdown reference of :class:`deltaset.Dataset` (``docs/api-reference.md``)."""
    members = api_members(cls)
    kinds = [
        ("classmethod", "Class methods", "Called on the class: `Dataset.create(...)`."),
        ("staticmethod", "Static methods", ""),
        ("method", "Instance methods", "Called on a version: `Dataset.get(...).add_files(...)`."),
    ]
    lines = [
        "<!-- Generated from the code by `python -m deltaset.cli.reference --api`; edit the",
        f"     docstrings, then regenerate with `{REGENERATE}`. -->",
        "",
        "# Python API reference: `deltaset.Dataset`",
        "",
        "`from deltaset import Dataset`. One object is one dataset version; obtain it with "
        "`Dataset.create` or `Dataset.get`. Each public member below with its signature and "
        "the first paragraph of its docstring; errors are raised as `deltaset.DeltasetError` "
        "subclasses.",
        "",
    ]
    for kind, title, intro in kinds:
        chosen = [m for m in members if m.kind == kind]
        if not chosen:
            continue
        lines += [f"## {title}", ""]
        if intro:
            lines += [intro, ""]
        for member in chosen:
            lines += [f"### `Dataset.{member.name}`", "", "```python", signature(member), "```", ""]
            text = summary(member.function)
            lines += [text or "No description yet.", ""]
    props = [m for m in members if m.kind == "property"]
    if props:
        lines += ["## Properties", "", "| property | type | description |", "|---|---|---|"]
        for member in props:
            returns = inspect.signature(member.function).return_annotation
            kind = "" if returns is inspect.Signature.empty else f"`{_annotation(returns)}`"
            lines.append(
                f"| `Dataset.{member.name}` | {_cell(kind)} | {_cell(summary(member.function))} |"
            )
        lines.append("")
    lines += _storage_manager_section()
    return "\n".join(lines).rstrip("\n") + "\n"


def _storage_manager_section() -> list[str]:
    """The class methods of :class:`deltaset.StorageManager`, after those of Dataset."""
    from deltaset.api.storage_manager import StorageManager

    lines = [
        "# `deltaset.StorageManager`",
        "",
        "`from deltaset import StorageManager`. ClearML's companion for single files in and "
        "out of storage, with its class methods, parameter names and defaults; see the "
        "migration guide for what each does differently.",
        "",
    ]
    for member in api_members(StorageManager):
        lines += [f"## `StorageManager.{member.name}`", "", "```python"]
        lines += [signature(member, "StorageManager"), "```", ""]
        lines += [summary(member.function) or "No description yet.", ""]
    return lines


# -- files ----------------------------------------------------------------------------------------
REFERENCES: dict[str, Callable[[], str]] = {
    "cli-reference.md": cli_reference,
    "api-reference.md": api_reference,
}


def stale(docs: Path) -> list[str]:
    """The reference files in ``docs`` that differ from what the code generates now."""
    found = []
    for name, generate in REFERENCES.items():
        path = docs / name
        if not path.exists() or path.read_text(encoding="utf-8") != generate():
            found.append(str(path))
    return found


def write(docs: Path) -> list[Path]:
    docs.mkdir(parents=True, exist_ok=True)
    written = []
    for name, generate in REFERENCES.items():
        path = docs / name
        path.write_text(generate(), encoding="utf-8")
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deltaset.cli.reference",
        description="Print the command reference (default) or the API reference, or write or "
        "check both files.",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--api", action="store_true", help="print the Python API reference")
    mode.add_argument("--write", action="store_true", help="write both files into --docs")
    mode.add_argument("--check", action="store_true", help="exit 1 if a file in --docs is stale")
    parser.add_argument("--docs", type=Path, default=Path("docs"), help="default: ./docs")
    args = parser.parse_args(argv)
    if args.write:
        for path in write(args.docs):
            print(f"wrote {path}")
        return 0
    if args.check:
        behind = stale(args.docs)
        for name in behind:
            print(f"{name} is not what the code generates; run: {REGENERATE}", file=sys.stderr)
        return 1 if behind else 0
    sys.stdout.write(api_reference() if args.api else cli_reference())
    return 0


if __name__ == "__main__":
    sys.exit(main())
