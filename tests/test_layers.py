"""Data flows one way: decoders <- timeseries <- features <- gateway. A lower layer never
imports a higher one, the product never imports the simulator, the benchmarks, the tests
or the service starters, and inside the gateway the MQTT side never imports HTTP or ops."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {"decoders": 0, "timeseries": 1, "features": 2, "gateway": 3}
OUTSIDE = ("simulator", "benchmarks", "tests", "localservices")
# inside the gateway: module prefix -> prefixes it may not import
GATEWAY_WALLS = {
    "gateway.mqtt": ("gateway.http", "gateway.ops", "gateway.pipeline", "gateway.app"),
    "gateway.http": ("gateway.mqtt", "gateway.pipeline"),
    "gateway.mqtt.native": ("gateway.mqtt.aiomqtt_source",),
    "gateway.mqtt.aiomqtt_source": ("gateway.mqtt.native",),
}


def imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text("utf-8"))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found += [f"{node.module}.{a.name}" for a in node.names]
    return found


def product_modules() -> list[tuple[str, Path]]:
    out = []
    for package in LAYERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            out.append((".".join(rel.parts).removesuffix(".__init__"), path))
    return out


def violations(module: str, imported: list[str]) -> list[str]:
    top = module.split(".")[0]
    bad = []
    for name in imported:
        head = name.split(".")[0]
        if head in OUTSIDE:
            bad.append(f"{module} imports {name} (outside the product)")
        elif head in LAYERS and LAYERS[head] > LAYERS[top]:
            bad.append(f"{module} imports {name} (a higher layer)")
        for prefix, walls in GATEWAY_WALLS.items():
            if module == prefix or module.startswith(prefix + "."):
                bad += [f"{module} imports {name} (across a wall)" for wall in walls
                        if name == wall or name.startswith(wall + ".")]
    return bad


def test_every_product_module_imports_only_downwards() -> None:
    modules = product_modules()
    assert len(modules) > 60
    problems = [p for module, path in modules for p in violations(module, imports(path))]
    assert problems == []


@pytest.mark.parametrize(("module", "imported", "expected"), [
    ("timeseries.writer", ["features.trips"], "a higher layer"),
    ("decoders.can_v1", ["timeseries.batch"], "a higher layer"),
    ("features.engine", ["simulator.fleet"], "outside the product"),
    ("gateway.mqtt.native", ["gateway.mqtt.aiomqtt_source.Source"], "across a wall"),
    ("gateway.mqtt.base", ["gateway.http.app"], "across a wall"),
])
def test_the_check_sees_a_wrong_import(module: str, imported: list[str], expected: str) -> None:
    (problem,) = violations(module, imported)
    assert expected in problem


def test_every_package_says_what_it_owns() -> None:
    for package in [*LAYERS, "gateway/mqtt", "gateway/http", "gateway/ops", "localservices"]:
        doc = ast.get_docstring(ast.parse((ROOT / package / "__init__.py").read_text()))
        assert doc and "import" in doc, f"{package}/__init__.py: say what it owns and imports"
