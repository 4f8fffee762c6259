"""One Markdown page per ``ops`` command group, generated from the typer app.

Each page holds the group's help, then every command with its help, its usage
line and a table of its arguments and options as ``--help`` prints them
(metavars, defaults, ranges). Top-level commands (``ops doctor``) get a page
of their own, so the pages mirror ``ops --help`` one to one.
"""

from __future__ import annotations

import html
import inspect
from dataclasses import dataclass
from typing import Any

import typer

PROG = "ops"


@dataclass(frozen=True)
class Param:
    """One argument or option as ``--help`` shows it."""

    names: str
    help: str


@dataclass(frozen=True)
class CommandDoc:
    """One command: its full name, help text, usage line and parameters."""

    path: str
    help: str
    usage: str
    params: tuple[Param, ...]


@dataclass(frozen=True)
class GroupDoc:
    """One entry of ``ops --help``: a group of commands, or a single command."""

    name: str
    summary: str
    help: str
    commands: tuple[CommandDoc, ...]

    @property
    def page(self) -> str:
        """The page's path under the docs folder."""
        return f"ops/{self.name}.md"


def ops_groups(app: typer.Typer | None = None) -> list[GroupDoc]:
    """Every entry of ``ops --help``, in its order, with its commands."""
    if app is None:
        from ops.cli._app import app as ops_app

        app = ops_app
    root = typer.main.get_command(app)
    ctx = root.context_class(root, info_name=PROG)
    groups = []
    for name in root.list_commands(ctx):  # type: ignore[attr-defined]
        cmd = root.get_command(ctx, name)  # type: ignore[attr-defined]
        if cmd is None or cmd.hidden:
            continue
        sub = cmd.context_class(cmd, info_name=name, parent=ctx)
        if hasattr(cmd, "list_commands"):
            commands = [_command(cmd.get_command(sub, n), n, sub) for n in cmd.list_commands(sub)]
            commands = [c for c in commands if c is not None]
        else:
            commands = [c for c in (_command(cmd, name, ctx),) if c is not None]
        groups.append(GroupDoc(name, cmd.get_short_help_str(limit=200), _help(cmd), tuple(commands)))
    return groups


def _command(cmd: Any, name: str, parent: Any) -> CommandDoc | None:
    if cmd is None or cmd.hidden:
        return None
    ctx = cmd.context_class(cmd, info_name=name, parent=parent)
    params = []
    for param in cmd.params:
        record = None if getattr(param, "hidden", False) else param.get_help_record(ctx)
        if record is not None:
            params.append(Param(record[0], record[1]))
    usage = " ".join(cmd.get_usage(ctx).removeprefix("Usage:").split())
    return CommandDoc(ctx.command_path, _help(cmd), usage, tuple(params))


def _help(cmd: Any) -> str:
    return inspect.cleandoc(cmd.help or "").replace("\b\n", "")


def _text(text: str) -> str:
    """Help text as Markdown: angle brackets shown, not taken for HTML."""
    return html.escape(text, quote=False)


def _cell(text: str) -> str:
    return _text(" ".join(text.split())).replace("|", "\\|")


def render_group(group: GroupDoc) -> str:
    """The page of one group; a single command's page is the command itself."""
    out = [f"# {PROG} {group.name}", ""]
    if len(group.commands) == 1 and group.commands[0].path == f"{PROG} {group.name}":
        return "\n".join(out + _render_command(group.commands[0]))
    out += [_text(group.help), "", "| command | what it does |", "| --- | --- |"]
    out += [f"| [`{c.path}`](#{_anchor(c.path)}) | {_cell(_first_paragraph(c.help))} |" for c in group.commands]
    out.append("")
    for command in group.commands:
        out += [f"## `{command.path}` {{#{_anchor(command.path)}}}", "", *_render_command(command)]
    return "\n".join(out)


def _render_command(command: CommandDoc) -> list[str]:
    out = [_text(command.help), "", "```text", command.usage, "```", ""]
    if command.params:
        out += ["| argument or option | meaning |", "| --- | --- |"]
        out += [f"| `{p.names}` | {_cell(p.help)} |" for p in command.params]
        out.append("")
    return out


def render_index(groups: list[GroupDoc]) -> str:
    """The table of every group and command, for the section's first page."""
    out = ["| command | what it does |", "| --- | --- |"]
    out += [f"| [`{PROG} {g.name}`]({g.name}.md) | {_cell(g.summary)} |" for g in groups]
    return "\n".join(out) + "\n"


def _first_paragraph(text: str) -> str:
    return text.split("\n\n", maxsplit=1)[0]


def _anchor(path: str) -> str:
    return path.replace(" ", "-")
