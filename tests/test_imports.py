"""The import rules, read from the source: the core imports no I/O library, each heavy library has one home.

(No module is imported to check: the rules hold for code that never runs in
the tests too.)
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "neuraltunes_live"

#: Where each library outside the standard library may be imported, and nowhere else.
HOMES = {
    "numpy": None,  # anywhere
    "click": {"cli"},
    "mido": {"midifile", "live"},
    "rtmidi": {"ports"},
    "jack": {"ports"},
    "music21": {"score_import"},
    "matplotlib": {"plot"},
    "tensorflow": {"training.data", "training.train", "training.model"},
    "keras": {"training.data", "training.train", "training.model"},
}

#: The core: pure functions and the live engine, tested with fakes. They import
#: the standard library, NumPy and each other, nothing that does I/O at the edge.
CORE = {
    "notes", "encoding", "tempo", "dataset", "model", "memory", "sampling", "rhythm", "continuation",
    "markov", "evaluate", "answers", "messages", "clock", "clockfollow", "phrase", "notetracker",
    "scheduler", "controls", "engine", "daemon", "errors", "files", "config", "keys", "memory_fit",
}
EDGE = {"ports", "live", "cli", "midifile", "score_import", "plot", "prepare", "generate", "cache"}


def modules() -> dict[str, Path]:
    found = {path.stem: path for path in PACKAGE.glob("*.py") if path.stem not in ("__init__", "__main__")}
    found.update({f"training.{path.stem}": path for path in (PACKAGE / "training").glob("*.py")
                  if path.stem != "__init__"})
    return found


def imports(name: str, path: Path) -> tuple[set[str], set[str]]:
    """(libraries imported, modules of the package imported) by one module."""
    libraries, own = set(), set()
    package = name.rsplit(".", 1)[0] if "." in name else ""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            libraries.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                libraries.add((node.module or "").split(".")[0])
                continue
            base = package if node.level == 1 else ""
            if node.module:
                own.add(f"{base}.{node.module}".strip(".") if node.level == 1 else node.module)
            else:
                own.update(f"{base}.{alias.name}".strip(".") for alias in node.names)
    return libraries - {"__future__"}, own


ALL = modules()


def test_every_module_is_under_a_rule():
    assert set(ALL) - {m for m in ALL if m.startswith("training.")} <= CORE | EDGE


@pytest.mark.parametrize("name", sorted(ALL))
def test_libraries_are_imported_only_in_their_home(name):
    libraries, _ = imports(name, ALL[name])
    for library in libraries - set(sys.stdlib_module_names):
        assert library in HOMES, f"{name} imports {library}, which has no home in the import rules"
        homes = HOMES[library]
        assert homes is None or name in homes, f"{name} imports {library}; only {sorted(homes)} may"


@pytest.mark.parametrize("name", sorted(CORE))
def test_the_core_imports_only_the_core(name):
    _, own = imports(name, ALL[name])
    assert own <= CORE, f"{name} imports {sorted(own - CORE)} from outside the core"


@pytest.mark.parametrize("name", sorted(ALL))
def test_only_the_command_line_imports_training(name):
    if name.startswith("training."):
        return
    _, own = imports(name, ALL[name])
    assert name == "cli" or not any(m == "training" or m.startswith("training.") for m in own), name
