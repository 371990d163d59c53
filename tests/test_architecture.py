"""The package's import graph: no import circle, and no upward import from the face-geometry layer.

Built from the source with :mod:`ast` (nothing is imported): every ``import talkface...`` and
``from talkface... import ...``, at module level and inside functions, resolved to the module it
names (a ``from package import submodule`` counts as the submodule).

Also one docstring style: no numpydoc section (a title line underlined by dashes) in any docstring.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "talkface"

#: what the geometry layer (talkface.face) must never import: everything built on top of it
UPPER = ("motion", "texture", "render", "eval", "serve", "live", "batch", "pipeline", "cli", "e2e", "train")


def _modules() -> dict[str, Path]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(node: ast.Import | ast.ImportFrom) -> set[str]:
    out: set[str] = set()
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name.split(".")[0] == "talkface":
                out.add(_resolve(alias.name) or "talkface")
    elif node.level == 0 and node.module and node.module.split(".")[0] == "talkface":
        for alias in node.names:
            sub = f"{node.module}.{alias.name}"
            out.add(sub if sub in MODULES else (_resolve(node.module) or "talkface"))
    return out


def _imports(module: str) -> tuple[set[str], set[str]]:
    """(module-level imports, all imports incl. inside functions) of talkface modules, self excluded.

    Imports under ``if TYPE_CHECKING:`` are not run and are left out of both.
    """
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    top: set[str] = set()
    every: set[str] = set()

    def visit(body: list[ast.stmt], at_top: bool) -> None:
        for node in body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = _targets(node)
                every.update(names)
                if at_top:
                    top.update(names)
            elif isinstance(node, ast.If) and _is_type_checking(node.test):
                continue
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(node.body if isinstance(node.body, list) else [], False)
            elif isinstance(node, ast.ClassDef):
                visit(node.body, at_top)
            else:
                for field in ("body", "orelse", "finalbody", "handlers"):
                    child = getattr(node, field, None)
                    if isinstance(child, list):
                        visit([c for c in child if isinstance(c, ast.stmt)], at_top)
                        for handler in child:
                            if isinstance(handler, ast.ExceptHandler):
                                visit(handler.body, at_top)
                if isinstance(node, ast.Match):
                    for case in node.cases:
                        visit(case.body, at_top)

    visit(tree.body, True)
    top.discard(module)
    every.discard(module)
    return top, every


GRAPH = {m: _imports(m) for m in MODULES}


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_graph_sees_the_package() -> None:
    assert len(MODULES) > 50
    assert "talkface.face.geometry" in GRAPH["talkface.eval.motion_metrics"][0]
    assert "talkface.face.geometry" in GRAPH["talkface.motion.retarget"][0]


def test_no_module_level_import_circle() -> None:
    assert _cycles({m: top for m, (top, _) in GRAPH.items()}) == []


@pytest.mark.parametrize(
    "pair",
    [
        ("talkface.eval.motion_metrics", "talkface.motion.retarget"),
        ("talkface.eval.motion_metrics", "talkface.motion.lgan"),
        ("talkface.motion.blink", "talkface.motion.data"),
        ("talkface.motion.lgan", "talkface.motion.data"),
        ("talkface.texture.tgan", "talkface.texture.attention"),
        ("talkface.motion.head", "talkface.motion.render"),
        ("talkface.live.stream", "talkface.pipeline"),
        ("talkface.serve.app", "talkface.serve.redis_queue"),
        ("talkface.live.model", "talkface.live.train"),
    ],
)
def test_named_circles_are_gone_even_through_function_imports(pair: tuple[str, str]) -> None:
    cycles = _cycles({m: every for m, (_, every) in GRAPH.items()})
    assert not any(set(pair) <= set(c) for c in cycles), cycles


def test_face_layer_imports_nothing_above_it() -> None:
    for module, (_, every) in GRAPH.items():
        if not module.startswith("talkface.face"):
            continue
        for target in every:
            top = target.split(".")[1] if "." in target else ""
            assert top not in UPPER, f"{module} imports {target}"


def test_geometry_depends_on_numpy_only() -> None:
    code = (
        "import sys; import talkface.face.geometry;"
        "bad = [m for m in ('torch', 'dlib', 'cv2', 'scipy') if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "[]"


def test_old_names_still_importable() -> None:
    from talkface.eval.motion_metrics import MOUTH_POINTS, mouth_opening
    from talkface.face import geometry
    from talkface.face.landmarks import MOUTH, STABLE_POINTS
    from talkface.motion.blink import EYE_POINTS
    from talkface.motion.lgan import SPEECH_POINTS
    from talkface.motion.retarget import OPEN_MOUTH, mouth_is_open

    assert mouth_opening is geometry.mouth_opening and mouth_is_open is geometry.mouth_is_open
    assert OPEN_MOUTH == geometry.OPEN_MOUTH == 0.08
    assert MOUTH == MOUTH_POINTS == tuple(range(48, 68))
    assert STABLE_POINTS == geometry.STABLE_POINTS
    assert tuple(range(17, 27)) + tuple(range(36, 48)) == EYE_POINTS
    assert tuple(i for i in range(68) if i not in set(EYE_POINTS)) == SPEECH_POINTS and len(SPEECH_POINTS) == 46


def test_inference_path_does_not_import_lightning() -> None:
    """``import talkface.pipeline`` + loading the shipped bundle + the Animator: no Lightning (start-up time)."""
    code = (
        "import sys; from talkface.pipeline import Animator, AnimateConfig, load_bundle; b = load_bundle();"
        "a = Animator(AnimateConfig(threads=1));"
        "print(type(b.lgan).__name__, type(b.blink).__name__, type(b.texture).__name__,"
        " sorted(m for m in sys.modules if m.split('.')[0] == 'lightning' or m == 'talkface.train.core')[:3])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin", "HOME": "/tmp"})
    # the shipped motion model is an ensemble of two plain G_L (talkface.motion.ensemble, docs/motion.md 5c)
    assert out.stdout.split() == ["LGANEnsemble", "BlinkNet", "TextureNet", "[]"], out.stdout + out.stderr


def test_plain_networks_match_the_lightning_modules() -> None:
    """The shipped bundle loaded both ways: same weights, same motion and blinks."""
    import numpy as np
    import torch

    from talkface.pipeline import load_bundle

    plain, trained = load_bundle(), load_bundle(trainable=True)
    # the motion ensemble is never fine-tuned, so it loads as itself either way
    assert type(trained.lgan).__name__ == "LGANEnsemble" and type(trained.texture).__name__ == "TextureGAN"
    for a, b in ((plain.lgan, trained.lgan), (plain.blink, trained.blink)):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() <= sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    sa, sb = plain.texture.state_dict(), trained.texture.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa) and set(sa) == {k for k in sb if k.startswith("generator.")}
    feats = np.random.default_rng(0).standard_normal((30, plain.lgan.config.feature_dim)).astype(np.float32)
    np.testing.assert_array_equal(plain.lgan.predict_canonical(feats), trained.lgan.predict_canonical(feats))
    np.testing.assert_array_equal(plain.blink.generate(50, seed=3, blink_rate=0.35),
                                  trained.blink.generate(50, seed=3, blink_rate=0.35))


#: a numpydoc section header: a title line (``Parameters``, ``Returns``, ``Raises``, ...) and a line of dashes
#: under it; the code's docstrings are Google style (``Args:``, ``Returns:``, ...; CONTRIBUTING.md)
_NUMPYDOC_SECTION = re.compile(r"^[ \t]*([A-Z][A-Za-z ]*)[ \t]*\n[ \t]*-{3,}[ \t]*$", re.MULTILINE)


def _numpydoc_sections(source: str, name: str) -> list[str]:
    """``"module:line title"`` of each numpydoc section header in the docstrings of ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        body = node.body
        if not (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            continue
        doc = body[0].value
        for match in _NUMPYDOC_SECTION.finditer(doc.value):
            found.append(f"{name}:{doc.lineno + doc.value.count(chr(10), 0, match.start(1))} {match.group(1)}")
    return found


def test_numpydoc_section_detector() -> None:
    numpy_style = ('def f(x: int) -> int:\n    """Twice.\n\n    Parameters\n    ----------\n'
                   '    x:\n        a number.\n    """\n')
    google_style = 'def f(x: int) -> int:\n    """Twice.\n\n    Args:\n        x: a number.\n    """\n'
    assert _numpydoc_sections(numpy_style, "m") == ["m:4 Parameters"]
    assert _numpydoc_sections(google_style, "m") == []


#: the scripts beside the package (benchmarks, tools) keep the same docstring style
SCRIPTS = {f"{path.parent.name}/{path.name}": path for folder in ("benchmarks", "scripts")
           for path in sorted((SRC.parent / folder).glob("*.py"))}


def test_docstrings_have_no_numpydoc_sections() -> None:
    assert "benchmarks/validate_sync.py" in SCRIPTS
    found = [hit for name, path in sorted({**MODULES, **SCRIPTS}.items())
             for hit in _numpydoc_sections(path.read_text(), name)]
    assert found == [], f"numpydoc sections (write Google style: Args:, Returns:, Raises:): {found}"


def _uncommented_function_imports(source: str, name: str) -> list[str]:
    """``"module:line"`` of each ``talkface.*`` import inside a function with no comment on its line or above."""
    lines = source.splitlines()
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(child, True)
            elif isinstance(child, (ast.Import, ast.ImportFrom)):
                if in_function and _targets(child):
                    line, above = lines[child.lineno - 1], lines[child.lineno - 2] if child.lineno > 1 else ""
                    if "#" not in line and not above.lstrip().startswith("#"):
                        found.append(f"{name}:{child.lineno}")
            else:
                visit(child, in_function)

    visit(ast.parse(source), False)
    return found


def test_function_import_detector() -> None:
    source = ("import talkface.errors\n\n\ndef f() -> None:\n    from talkface.io import atomic\n"
              "    from talkface.face import geometry  # the reason\n    # the reason\n    import talkface.audio\n"
              "    import json\n")
    assert _uncommented_function_imports(source, "m") == ["m:5"]


def test_function_level_imports_say_why() -> None:
    """A ``talkface.*`` import inside a function names its reason in a comment (CONTRIBUTING.md, "Imports")."""
    found = [hit for name, path in sorted(MODULES.items())
             for hit in _uncommented_function_imports(path.read_text(), name)]
    assert found == [], f"imports inside functions without a reason (move them to the top or say why): {found}"
