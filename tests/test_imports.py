"""The import rules, read from the source: the layout's layers, and one home for each heavy library.

(No module is imported to check: the rules hold for code that never runs in
the tests too.)

The layers, lowest first; a part imports only the parts listed for it:

* ``errors``, ``files``, ``records``: the standard library only;
* ``core`` (notes, encoding, keys, sampling, the network, the piece memory,
  continuation): the base and NumPy, no I/O library;
* ``config``: the core (every setting defined once);
* ``data`` (file and score import, the prepared data) and ``live`` (the
  daemon, its ports, and play/record over them): the core, the base, ``config``; neither the other;
* ``offline`` (generate, evaluate, the baseline, plots, session files): any of
  the above;
* ``training``: the core, ``config`` (the settings it trains with), ``data``
  and ``offline``'s plots; only ``cli`` imports it;
* ``cli``: anything.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "neuraltunes_live"
NAME = "neuraltunes_live"

#: Where each library outside the standard library may be imported, and nowhere else.
HOMES = {
    "numpy": None,  # anywhere
    "click": {"cli"},
    "mido": {"data.midifile"},
    "symusic": {"data.midifile"},
    "rtmidi": {"live.ports"},
    "jack": {"live.ports"},
    "music21": {"data.score_import"},
    "fluidsynth": {"live.synth"},
    "matplotlib": {"offline.plot"},
    "tensorflow": {"training.data", "training.loop", "training.train", "training.model", "training.accompany"},
    "keras": {"training.data", "training.loop", "training.train", "training.model", "training.accompany"},
}

BASE = {"errors", "files", "records"}
#: What each part may import from the package (its own modules always).
ALLOWED = {
    "base": BASE,
    "core": BASE,
    "config": BASE | {"core"},
    "data": BASE | {"core", "config"},
    "live": BASE | {"core", "config"},
    "offline": BASE | {"core", "config", "data", "live"},
    "training": BASE | {"core", "config", "data", "offline.plot"},
    "cli": None,  # anything
}


def part(module: str) -> str:
    head = module.split(".")[0]
    return "base" if head in BASE else head


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).with_suffix("")
        if relative.name in ("__init__", "__main__"):
            continue
        found[".".join(relative.parts)] = path
    return found


def _is_module(dotted: str) -> bool:
    relative = Path(*dotted.split(".")[1:])
    return dotted.startswith(NAME + ".") and (
        (PACKAGE / relative).with_suffix(".py").is_file() or (PACKAGE / relative).is_dir()
    )


def imports(path: Path) -> tuple[set[str], set[str]]:
    """(libraries imported, modules of the package imported, without the package's name) by one module."""
    libraries, own = set(), set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import; the package imports itself by full name"
            if node.module == NAME:
                own.update(alias.name for alias in node.names if alias.name != "__version__")
                continue
            # ``from a.b import c``: the module a.b.c where there is one, else a.b
            names = [
                f"{node.module}.{alias.name}" if _is_module(f"{node.module}.{alias.name}") else node.module
                for alias in node.names
            ]
        else:
            continue
        for name in names:
            if name.startswith(NAME + "."):
                own.add(name[len(NAME) + 1 :])
            else:
                libraries.add(name.split(".")[0])
    return libraries - {"__future__"}, own


ALL = modules()


def test_every_module_belongs_to_a_part():
    assert {part(name) for name in ALL} <= set(ALLOWED)
    assert {
        "core.model",
        "core.model_files",
        "data.midifile",
        "live.engine",
        "offline.evaluate",
        "training.train",
    } <= set(ALL)


@pytest.mark.parametrize("name", sorted(ALL))
def test_libraries_are_imported_only_in_their_home(name):
    libraries, _ = imports(ALL[name])
    for library in libraries - set(sys.stdlib_module_names):
        assert library in HOMES, f"{name} imports {library}, which has no home in the import rules"
        homes = HOMES[library]
        assert homes is None or name in homes, f"{name} imports {library}; only {sorted(homes)} may"


@pytest.mark.parametrize("name", sorted(ALL))
def test_each_part_imports_only_the_layers_below_it(name):
    allowed = ALLOWED[part(name)]
    if allowed is None:
        return
    _, own = imports(ALL[name])
    for module in own:
        assert module in allowed or part(module) in allowed | {part(name)}, f"{name} imports {module}"


def test_the_rules_catch_a_forbidden_import(tmp_path):
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("from neuraltunes_live.live.ports import MidiOutput\nimport mido\n")
    libraries, own = imports(sneaky)
    assert libraries == {"mido"} and own == {"live.ports"}  # the module, not the name imported from it
    assert part("live.ports") not in ALLOWED["core"]
