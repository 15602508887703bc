"""render.py: trees, compact JSON, machine formats, colour and progress decisions."""

from __future__ import annotations

import argparse
import io

import pytest
from pymultus.cli.render import Console
from pymultus.cli.render import Node
from pymultus.cli.render import add_console_options
from pymultus.cli.render import color_wanted
from pymultus.cli.render import compact_json
from pymultus.cli.render import dump
from pymultus.cli.render import plural
from pymultus.cli.render import render_tree


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_tree() -> None:
    root = Node("pod")
    a = root.add("eth0", body=["cluster"])
    a.add("bridge")
    root.add("net1", body=["two\nlines"])
    assert render_tree(root) == [
        "pod",
        "├─ eth0",
        "│  │  cluster",
        "│  └─ bridge",
        "└─ net1",
        "      two",
        "      lines",
    ]


def test_compact_json_keeps_small_values_on_one_line() -> None:
    obj = {"name": "n", "ipam": {"type": "static"}, "long": ["x" * 40, "y" * 40]}
    assert compact_json(obj, width=60) == (
        '{\n  "name": "n",\n  "ipam": {"type": "static"},\n  "long": [\n'
        f'    "{"x" * 40}",\n    "{"y" * 40}"\n  ]\n}}'
    )
    assert compact_json({"a": 1}) == '{"a": 1}'


def test_machine_formats_are_sorted_and_stable() -> None:
    obj = {"b": 1, "a": {"d": [1, 2], "c": None}}
    assert (
        dump(obj, "json")
        == '{\n  "a": {\n    "c": null,\n    "d": [\n      1,\n      2\n    ]\n  },\n  "b": 1\n}\n'
    )
    assert dump(obj, "yaml") == "a:\n  c: null\n  d:\n  - 1\n  - 2\nb: 1\n"
    with pytest.raises(ValueError, match="not a machine format"):
        dump(obj, "text")


def test_colour_only_on_a_terminal() -> None:
    assert color_wanted(Tty(), "auto", {}) is True
    assert color_wanted(io.StringIO(), "auto", {}) is False
    assert color_wanted(Tty(), "auto", {"NO_COLOR": "1"}) is False
    assert color_wanted(Tty(), "auto", {"TERM": "dumb"}) is False
    assert color_wanted(io.StringIO(), "always", {"NO_COLOR": "1"}) is True
    assert color_wanted(Tty(), "never", {}) is False
    c = Console(Tty(), io.StringIO(), environ={})
    assert c.style("x", "red", "bold") == "\x1b[31;1mx\x1b[0m"
    assert c.err_style("x", "red") == "x"  # stderr is not a terminal here


def test_quiet_and_verbose() -> None:
    out, err = io.StringIO(), io.StringIO()
    c = Console(out, err, quiet=True, environ={})
    c.info("hidden")
    c.warn("hidden")
    c.error("shown")
    c.print("result")
    assert (out.getvalue(), err.getvalue()) == ("result\n", "error: shown\n")
    err = io.StringIO()
    c = Console(io.StringIO(), err, verbose=1, environ={})
    c.detail("level 1")
    c.detail("level 2", level=2)
    assert err.getvalue() == "level 1\n"


def test_progress_on_a_terminal_and_off_it() -> None:
    err = Tty()
    c = Console(io.StringIO(), err, environ={"TERM": "xterm"})
    with c.step("create netns") as step:
        step.note = "pm-1"
    assert (
        err.getvalue()
        == "\x1b[2m…\x1b[0m create netns\r\x1b[2K\x1b[32m✓\x1b[0m create netns (pm-1)\n"
    )
    plain = io.StringIO()
    c = Console(io.StringIO(), plain, environ={})
    with c.step("quiet step"):
        pass
    with pytest.raises(RuntimeError), c.step("failing step"):
        raise RuntimeError("boom")
    assert plain.getvalue() == "failing step: failed\n"


def test_console_options_after_the_subcommand_override_only_when_given() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-v", "--verbose", action="count", default=0)
    parser.add_argument("-q", "--quiet", action="store_true")
    sub = parser.add_subparsers(dest="command")
    add_console_options(sub.add_parser("x"))
    args = parser.parse_args(["-v", "x"])
    assert (args.verbose, args.quiet, args.color) == (1, False, "auto")
    args = parser.parse_args(["x", "-q", "-vv", "--color", "never"])
    assert (args.verbose, args.quiet, args.color) == (2, True, "never")
    c = Console.from_args(args, io.StringIO(), io.StringIO(), environ={})
    assert (c.quiet, c.verbose, c.color) == (True, 2, False)


def test_plural() -> None:
    assert (plural(1, "pod"), plural(2, "pod"), plural(0, "netconf")) == (
        "1 pod",
        "2 pods",
        "0 netconfs",
    )
