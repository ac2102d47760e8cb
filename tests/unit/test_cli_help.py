"""``gateway --help`` shows the whole synopsis; every command's ``--help`` shows each option's
default.

The parser is walked (every command and subcommand), so an option added without help, or a
command missing from the synopsis, fails here.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters import cli


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
             ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """(path, parser) of the top level and of every (sub)command below it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from commands(child, (*path, name))


Command = tuple[tuple[str, ...], argparse.ArgumentParser]


def leaves(parser: argparse.ArgumentParser) -> list[Command]:
    """The commands that run something (no subcommands below them)."""
    return [(path, p) for path, p in commands(parser)
            if path and not any(isinstance(a, argparse._SubParsersAction) for a in p._actions)]


def visible_options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings and a.help != argparse.SUPPRESS
            and not isinstance(a, argparse._HelpAction)]


def help_text(capsys: pytest.CaptureFixture[str], *path: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*path, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


def option_block(text: str, option: str) -> str:
    """The help of ``option`` in a help text: its line and the continuation lines, joined."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(option))
    block = [lines[start]]
    for line in lines[start + 1:]:
        if not line.strip() or line.lstrip().startswith("-"):
            break
        block.append(line)
    return " ".join(" ".join(block).split())


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")


ALL = list(commands(cli._parser()))


@pytest.mark.parametrize(("path", "parser"), ALL, ids=[" ".join(p) or "gateway" for p, _ in ALL])
def test_cli_help_every_option_has_help_and_its_default(
        path: tuple[str, ...], parser: argparse.ArgumentParser,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Each command's --help lists each of its options with a sentence and "(default: …)"."""
    text = help_text(capsys, *path)
    for action in visible_options(parser):
        block = option_block(text, action.option_strings[0])
        assert action.help, f"{' '.join(path)} {action.option_strings[0]} has no help"
        assert f"(default: {action.default})" in block, block


@pytest.mark.parametrize(("path", "parser"), ALL[1:], ids=[" ".join(p) for p, _ in ALL[1:]])
def test_cli_help_of_a_command_starts_with_what_it_does(
        path: tuple[str, ...], parser: argparse.ArgumentParser,
        capsys: pytest.CaptureFixture[str]) -> None:
    """``gateway COMMAND --help`` states the command's one-line description under its usage."""
    text = help_text(capsys, *path)
    assert parser.description and " ".join(parser.description.split()) in " ".join(text.split())


def test_cli_help_shows_the_whole_synopsis(capsys: pytest.CaptureFixture[str]) -> None:
    """``gateway --help`` has one synopsis line per command, with all its options and what it
    does, and lists every top-level command with its one-line help."""
    parser = cli._parser()
    text = help_text(capsys)
    synopsis = text[text.index("synopsis:"):].splitlines()
    for path, leaf in leaves(parser):
        line = next((i for i, s in enumerate(synopsis)
                     if s.strip().startswith(f"gateway {' '.join(path)}")), None)
        assert line is not None, f"gateway {' '.join(path)} is missing from the synopsis"
        for action in visible_options(leaf):
            assert action.option_strings[0] in synopsis[line]
        described = " ".join(" ".join(synopsis[line + 1:line + 4]).split())
        assert " ".join((leaf.description or "").split()) in described
    assert len(leaves(parser)) >= 11
    for path, _ in ALL[1:]:
        if len(path) == 1:
            assert re.search(rf"^\s+{path[0]}\b", text, re.MULTILINE), path


def test_cli_module_docstring_names_every_command() -> None:
    """The synopsis in adapters/cli.py's docstring names every command the parser has."""
    for path, _ in leaves(cli._parser()):
        assert f"gateway {' '.join(path)}" in (cli.__doc__ or ""), path


def test_cli_group_without_subcommand_prints_the_groups_help(
        capsys: pytest.CaptureFixture[str]) -> None:
    """``gateway partners`` alone exits 2 with the partners commands, not the top-level help."""
    assert cli.main(["partners"]) == 2
    out = capsys.readouterr().out
    assert out.startswith("usage: gateway partners") and "token" in out
    assert "synopsis:" not in out


def test_cli_installed_command_prints_the_synopsis() -> None:
    """The installed ``gateway`` script answers --help with the synopsis (exit 0)."""
    script = Path(sys.executable).with_name("gateway")
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "COLUMNS": "100"})
    assert done.returncode == 0, done.stderr
    assert "synopsis:" in done.stdout and "gateway partners token [--replace] ID" in done.stdout
