"""Output helpers shared by the commands for people (``dry-run``, ``validate``, ``try``).

- :class:`Console`: where things go and how they look. Results go to stdout; messages
  (info, warnings, errors, progress) to stderr. Colour only when the stream is a
  terminal (``--color auto``), never with ``NO_COLOR`` set or ``TERM=dumb``; progress
  lines only on a terminal. ``--quiet`` keeps results and errors only; ``-v`` adds
  detail (``-vv`` more).
- :class:`Node` and :func:`render_tree`: a readable text tree (``├─``/``└─``), each node
  with a label, optional body lines, children.
- :func:`dump`: the machine formats, stable: JSON with sorted keys and two-space
  indentation, YAML with sorted keys in block style; both end with a newline.
- :func:`add_output_option`, :func:`add_console_options`: the kubectl-style options
  (``-o text|json|yaml``, ``-q``, ``-v``, ``--color``) for a subcommand's parser.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import IO
from typing import Any
from typing import Final

FORMATS: Final = ("text", "json", "yaml")
COLOR_CHOICES: Final = ("auto", "always", "never")

#: ANSI SGR codes by style name.
_SGR: Final = {
    "bold": "1",
    "dim": "2",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "blue": "34",
    "magenta": "35",
    "cyan": "36",
}

# -- options --------------------------------------------------------------------------------


def add_output_option(
    parser: argparse.ArgumentParser, *, formats: tuple[str, ...] = FORMATS, default: str = "text"
) -> None:
    parser.add_argument(
        "-o",
        "--output",
        choices=formats,
        default=default,
        help=f"output format (default {default}); json and yaml are stable machine formats",
    )


def add_console_options(parser: argparse.ArgumentParser) -> None:
    """``-q``/``-v`` after the subcommand too (kubectl habit); they override the global
    ones only when given."""
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print only results and errors",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="say more (repeatable)",
    )
    parser.add_argument(
        "--color",
        choices=COLOR_CHOICES,
        default="auto",
        help="colour the text output: auto (a terminal only), always, never",
    )


# -- console --------------------------------------------------------------------------------


def _is_tty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def color_wanted(stream: IO[str], mode: str, environ: Mapping[str, str]) -> bool:
    """``always``/``never``; ``auto`` = a terminal, without ``NO_COLOR`` or ``TERM=dumb``."""
    if mode == "always":
        return True
    if mode == "never" or environ.get("NO_COLOR", "") != "":
        return False
    if environ.get("TERM", "") == "dumb":
        return False
    return _is_tty(stream)


class Console:
    """Where output goes, and whether it is coloured.

    :param out: results (default ``sys.stdout``).
    :param err: messages and progress (default ``sys.stderr``).
    :param color: ``auto``, ``always`` or ``never`` (for ``out``; ``err`` is judged on
        its own in ``auto``).
    """

    def __init__(
        self,
        out: IO[str] | None = None,
        err: IO[str] | None = None,
        *,
        color: str = "auto",
        quiet: bool = False,
        verbose: int = 0,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        self.quiet = quiet
        self.verbose = verbose
        self.color = color_wanted(self.out, color, env)
        self.err_color = color_wanted(self.err, color, env)
        #: Progress lines are redrawn in place: only where a person watches.
        self.live = _is_tty(self.err) and env.get("TERM", "") != "dumb" and not quiet

    @classmethod
    def from_args(
        cls,
        args: argparse.Namespace,
        out: IO[str] | None = None,
        err: IO[str] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Console:
        return cls(
            out,
            err,
            color=getattr(args, "color", "auto") or "auto",
            quiet=bool(getattr(args, "quiet", False)),
            verbose=int(getattr(args, "verbose", 0) or 0),
            environ=environ,
        )

    # -- styling -----------------------------------------------------------------------

    @staticmethod
    def _paint(text: str, styles: tuple[str, ...], enabled: bool) -> str:
        codes = [_SGR[s] for s in styles if s in _SGR]
        if not enabled or not codes or not text:
            return text
        return f"\x1b[{';'.join(codes)}m{text}\x1b[0m"

    def style(self, text: str, *styles: str) -> str:
        """``text`` in the given styles (``bold``, ``dim``, ``red``, ...) for stdout."""
        return self._paint(text, styles, self.color)

    def err_style(self, text: str, *styles: str) -> str:
        return self._paint(text, styles, self.err_color)

    # -- writing ---------------------------------------------------------------------

    def print(self, text: str = "") -> None:
        """A result line on stdout (never suppressed)."""
        self.out.write(text + "\n")

    def write(self, text: str) -> None:
        """Result text on stdout as is (a JSON/YAML document)."""
        self.out.write(text)

    def _message(self, prefix: str, styles: tuple[str, ...], msg: str) -> None:
        head = self.err_style(prefix, *styles) if prefix else ""
        self.err.write(f"{head}{msg}\n")

    def info(self, msg: str) -> None:
        """Narration for a person; hidden by ``--quiet``."""
        if not self.quiet:
            self._message("", (), msg)

    def detail(self, msg: str, level: int = 1) -> None:
        """Shown with ``-v`` (``level`` 1) or ``-vv`` (2)."""
        if self.verbose >= level:
            self.err.write(self.err_style(msg, "dim") + "\n")

    def warn(self, msg: str) -> None:
        if not self.quiet:
            self._message("warning: ", ("yellow", "bold"), msg)

    def error(self, msg: str) -> None:
        """Always shown."""
        self._message("error: ", ("red", "bold"), msg)

    def success(self, msg: str) -> None:
        if not self.quiet:
            self._message("", (), self.err_style(msg, "green"))

    @contextlib.contextmanager
    def step(self, label: str) -> Iterator[Step]:
        """Progress of one step: on a terminal ``… label`` becomes ``✓ label`` (or
        ``✗ label`` when the block raises); elsewhere nothing, or ``label: done`` with
        ``-v``. The exception is re-raised."""
        step = Step(label)
        if self.live:
            self.err.write(f"{self.err_style('…', 'dim')} {label}\r")
            self.err.flush()
        try:
            yield step
        except BaseException:
            self._finish_step(step, ok=False)
            raise
        self._finish_step(step, ok=True)

    def _finish_step(self, step: Step, *, ok: bool) -> None:
        note = f" ({step.note})" if step.note else ""
        if self.live:
            mark = self.err_style("✓", "green") if ok else self.err_style("✗", "red")
            self.err.write(f"\x1b[2K{mark} {step.label}{note}\n")
            self.err.flush()
        elif not ok or (self.verbose and not self.quiet):
            self.err.write(f"{step.label}: {'done' if ok else 'failed'}{note}\n")


@dataclass
class Step:
    """A running step; set :attr:`note` to show a short outcome next to its label."""

    label: str
    note: str = ""


# -- text trees -----------------------------------------------------------------------------


@dataclass
class Node:
    """A tree node: a label line, body lines under it, then its children."""

    label: str
    children: list[Node] = field(default_factory=list)
    body: list[str] = field(default_factory=list)

    def add(self, label: str, body: list[str] | None = None) -> Node:
        child = Node(label, body=list(body or ()))
        self.children.append(child)
        return child


BRANCH: Final = "├─ "
LAST: Final = "└─ "
PIPE: Final = "│  "
SPACE: Final = "   "


def render_tree(root: Node) -> list[str]:
    """The lines of ``root`` (unindented) and its subtree."""
    lines = [root.label]
    _render_inner(root, "", lines)
    return lines


def _render_inner(node: Node, prefix: str, lines: list[str]) -> None:
    cont = prefix + (PIPE if node.children else SPACE)
    for text in node.body:
        for part in text.split("\n"):
            lines.append((cont + part).rstrip())
    for i, child in enumerate(node.children):
        last = i == len(node.children) - 1
        lines.append(prefix + (LAST if last else BRANCH) + child.label)
        _render_inner(child, prefix + (SPACE if last else PIPE), lines)


def indent_block(text: str, prefix: str = "  ") -> list[str]:
    return [prefix + line for line in text.splitlines()]


# -- machine formats ------------------------------------------------------------------------


def to_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def to_yaml(obj: Any) -> str:
    import yaml

    text: str = yaml.safe_dump(
        obj, sort_keys=True, default_flow_style=False, allow_unicode=True, width=4096
    )
    return text


def dump(obj: Any, fmt: str) -> str:
    """``obj`` as ``json`` or ``yaml``."""
    if fmt == "json":
        return to_json(obj)
    if fmt == "yaml":
        return to_yaml(obj)
    raise ValueError(f"not a machine format: {fmt}")


def compact_json(obj: Any, width: int = 76, indent: str = "  ") -> str:
    """JSON for people: a value that fits in ``width`` columns stays on one line, larger
    objects and lists open one member per line. Key order is kept (not sorted)."""
    return _compact(obj, width, indent, 0)


def _compact(obj: Any, width: int, indent: str, level: int) -> str:
    flat = json.dumps(obj, ensure_ascii=False)
    if len(flat) + len(indent) * level <= width or not isinstance(obj, dict | list) or not obj:
        return flat
    pad = indent * (level + 1)
    if isinstance(obj, dict):
        items = [
            f"{pad}{json.dumps(k, ensure_ascii=False)}: {_compact(v, width, indent, level + 1)}"
            for k, v in obj.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + indent * level + "}"
    items = [f"{pad}{_compact(v, width, indent, level + 1)}" for v in obj]
    return "[\n" + ",\n".join(items) + "\n" + indent * level + "]"


def plural(n: int, word: str, words: str | None = None) -> str:
    """``1 problem``, ``2 problems``."""
    return f"{n} {word if n == 1 else (words or word + 's')}"


__all__ = [
    "COLOR_CHOICES",
    "FORMATS",
    "Console",
    "Node",
    "Step",
    "add_console_options",
    "add_output_option",
    "color_wanted",
    "compact_json",
    "dump",
    "indent_block",
    "plural",
    "render_tree",
    "to_json",
    "to_yaml",
]
