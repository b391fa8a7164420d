"""The package layering, read from the source's import statements (the AST, so lazy imports count too).

core `tagger` <- `service` (HTTP), `batch` (CLI, Beam), `training`, `bench`: each depends only
downward, and the core never imports a web framework, Beam, Kapre or librosa.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = ("tagger", "service", "batch", "training", "bench")

FORBIDDEN = {
    "tagger": {
        "service",
        "batch",
        "training",
        "bench",
        "kapre",
        "librosa",
        "fastapi",
        "starlette",
        "apache_beam",
    },
    "service": {"batch", "training", "bench", "kapre", "librosa", "apache_beam", "keras"},
    "batch": {"service", "training", "bench", "kapre", "librosa", "fastapi", "keras"},
    "training": {"service", "batch", "bench", "fastapi"},
}


def imported_modules(path: Path) -> set[str]:
    """Top-level names of every module `path` imports, wherever the import statement is."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def package_imports(package: str) -> dict[str, set[str]]:
    return {
        str(path.relative_to(REPO)): imported_modules(path) for path in sorted((REPO / package).rglob("*.py"))
    }


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_each_package_imports_only_downward(package: str) -> None:
    imports = package_imports(package)
    assert imports, f"{package}/ has no modules"
    violations = {module: sorted(names & FORBIDDEN[package]) for module, names in imports.items()}
    assert not {module: names for module, names in violations.items() if names}


def test_the_core_is_what_the_others_share() -> None:
    """Each upper package really builds on the core (the test above would pass for an empty package too)."""
    for package in ("service", "batch", "training", "bench"):
        assert any("tagger" in names for names in package_imports(package).values()), package


def test_tests_and_benchmarks_never_edit_sys_path() -> None:
    offenders = [
        str(path.relative_to(REPO))
        for folder in ("tests", "bench", *PROJECT_PACKAGES)
        for path in (REPO / folder).rglob("*.py")
        if "sys.path.insert" in path.read_text() or "sys.path.append" in path.read_text()
    ]
    assert offenders == [path for path in offenders if path.endswith("test_layering.py")]
