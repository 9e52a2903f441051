"""lora_ref's own rules: what it imports, and what its top level exports.

`lora_ref` needs only torch and safetensors (pyproject.toml); transformers and
PEFT appear in the tests that compare with them. The top level holds the LoRA
vocabulary and method classes; analysis helpers stay in their modules.
"""

import ast
import sys
from pathlib import Path

import lora_ref

PACKAGE = Path(lora_ref.__file__).parent
ALLOWED = {"torch", "safetensors", "lora_ref"} | set(sys.stdlib_module_names)
# called only by the tiny-model builders, which say so (the `dev` extra)
LAZY = {"toy.py": {"transformers"}}


def imported_roots(tree: ast.AST) -> list[tuple[int, str]]:
    roots = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots += [(node.lineno, a.name.split(".")[0]) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            roots.append((node.lineno, node.module.split(".")[0]))
    return roots


def module_level_roots(tree: ast.Module) -> set[str]:
    """Roots imported when the module is imported (TYPE_CHECKING blocks aside)."""
    top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    return {root for _, root in imported_roots(ast.Module(top, []))}


def test_lora_ref_imports_only_torch_safetensors_and_the_standard_library():
    found = {}
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text())
        extra = LAZY.get(path.name, set())
        bad = [
            f"line {n}: {root}"
            for n, root in imported_roots(tree)
            if root not in ALLOWED | extra
        ]
        bad += [f"at import time: {r}" for r in module_level_roots(tree) & extra]
        if bad:
            found[path.name] = bad
    assert not found, found


def test_the_import_check_catches_a_transformers_import():
    # the check above must be able to fail
    tree = ast.parse("import torch\nfrom transformers import LlamaConfig\n")
    assert [r for _, r in imported_roots(tree) if r not in ALLOWED] == ["transformers"]


def test_all_is_sorted_and_every_name_exists():
    names = lora_ref.__all__
    assert names == sorted(names)
    assert all(hasattr(lora_ref, n) for n in names)
    public = {n for n in vars(lora_ref) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(lora_ref, n)) is type(lora_ref)}
    assert public - modules == set(names)  # nothing exported by accident


def test_analysis_helpers_are_imported_from_their_modules_only():
    from lora_ref import budget, counts, spectra

    analysis = {n for m in (budget, counts, spectra) for n in vars(m)}
    assert analysis & set(lora_ref.__all__) == {"parameter_counts"}
