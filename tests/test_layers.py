"""The package's shape (docs/architecture.md, "Layout"), checked on the source: schemas/ imports no other
package of ours; transforms/ and io/ import only schemas/ (and themselves); no import
cycle between modules; no module over 400 lines."""
import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("schemas", "transforms", "io", "pipeline", "firehose", "ui")
MAY_IMPORT = {"schemas": {"schemas"}, "transforms": {"schemas", "transforms"},
              "io": {"schemas", "io"}}
MAX_LINES = 400


def _modules():
  """{module name: (path, source)} of every module of the packages above."""
  found = {}
  for package in PACKAGES:
    for folder, dirs, files in os.walk(os.path.join(ROOT, package)):
      dirs[:] = [d for d in dirs if d not in ("static", "node_modules", "__pycache__")]
      for name in files:
        if name.endswith(".py"):
          path = os.path.join(folder, name)
          dotted = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
          module = "pulse." + dotted.removesuffix(".__init__")
          with open(path, encoding="utf-8") as f:
            found[module] = (path, f.read())
  return found


MODULES = _modules()


def _imports(module):
  """The modules of ours that `module` imports (from X import Y counts X.Y if a module)."""
  _, source = MODULES[module]
  out = set()
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pulse"):
      out.add(node.module)
      out.update(f"{node.module}.{a.name}" for a in node.names)
    elif isinstance(node, ast.Import):
      out.update(a.name for a in node.names if a.name.startswith("pulse"))
  return {m for m in out if m in MODULES and m != module}


def test_the_modules_are_found():
  assert {"pulse.schemas.windows", "pulse.io.stores.registry", "pulse.transforms.frames",
          "pulse.pipeline.graph"} <= set(MODULES)


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_lower_layers_import_only_what_lies_below_them(package):
  breaches = sorted(f"{module} imports {target}" for module in MODULES
                    if module.split(".")[1] == package
                    for target in _imports(module)
                    if target.split(".")[1] not in MAY_IMPORT[package])
  assert breaches == []


def test_no_import_cycles():
  graph = {m: _imports(m) for m in MODULES}
  state = {}

  def visit(module, path):
    state[module] = "open"
    for target in sorted(graph[module]):
      if state.get(target) == "open":
        pytest.fail("import cycle: " + " -> ".join(path[path.index(target):] + [target]))
      if target not in state:
        visit(target, path + [target])
    state[module] = "done"

  for module in sorted(graph):
    if module not in state:
      visit(module, [module])


def test_no_module_is_over_400_lines():
  sizes = {os.path.relpath(path, ROOT): source.count("\n")
           for path, source in MODULES.values()}
  assert {p: n for p, n in sizes.items() if n > MAX_LINES} == {}
