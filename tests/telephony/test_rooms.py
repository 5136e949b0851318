"""Telephony lives in rooms with one-way doors: no module of `workbench.telephony` reaches
itself through its imports, and the rooms import each other in one direction only.

Imports under `if TYPE_CHECKING:` and inside functions count: a circle a type checker or a
late import hides is still a circle a reader has to untangle.
"""

from __future__ import annotations

from collections.abc import Mapping

import grimp
import pytest

from workbench.paths import REPO_ROOT

PACKAGE = "workbench.telephony"
# Which room may import which: the server hosts the handoff; the caller's side talks to a
# server only over a socket. (Top-level modules are the faces and the shared pieces.)
ROOMS = ("server", "handoff", "caller")
ALLOWED = {("server", "handoff")}


def import_cycles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module, or a module importing itself
    (Tarjan's algorithm), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in edges.get(node, ()):
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def room_of(module: str) -> str:
    parts = module.split(".")
    return parts[2] if len(parts) > 3 and parts[2] in ROOMS else ""


@pytest.fixture(scope="module")
def telephony_imports() -> dict[str, set[str]]:
    """importer → imported, both inside `workbench.telephony` (from the source on disk)."""
    assert (REPO_ROOT / "workbench" / "telephony").is_dir()
    graph = grimp.build_graph("workbench", cache_dir=None)
    modules = {m for m in graph.modules if m == PACKAGE or m.startswith(PACKAGE + ".")}
    return {
        m: {t for t in graph.find_modules_directly_imported_by(m) if t in modules} for m in modules
    }


def test_the_cycle_finder_finds_a_circle_and_nothing_in_a_tree():
    circle = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert import_cycles(circle) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []
    assert import_cycles({"a": {"a"}}) == [["a"]]


def test_no_telephony_module_reaches_itself(telephony_imports):
    assert import_cycles(telephony_imports) == []


def test_the_rooms_import_each_other_one_way(telephony_imports):
    crossings = sorted(
        (importer, imported)
        for importer, targets in telephony_imports.items()
        for imported in targets
        if room_of(importer)
        and room_of(imported)
        and room_of(importer) != room_of(imported)
        and (room_of(importer), room_of(imported)) not in ALLOWED
    )
    assert crossings == []


def test_every_room_is_a_package_of_the_graph(telephony_imports):
    """(So the checks above see the rooms at all.)"""
    for room in ROOMS:
        assert f"{PACKAGE}.{room}" in telephony_imports
