"""The package Beam ships to Flink and Dataflow workers (--setup_file ./setup.py) holds
every module and schema, and imports as `pulse` from an install of that sdist."""
import glob
import os
import subprocess
import sys
import tarfile

from helpers import REPO


def test_sdist_installs_and_imports_with_schemas(tmp_path):
  # The command Beam's stager falls back to when `build` is not installed.
  subprocess.run([sys.executable, "setup.py", "-q", "sdist", "--dist-dir", str(tmp_path)],
                 cwd=REPO, check=True, capture_output=True, timeout=300)
  (sdist,) = glob.glob(str(tmp_path / "*.tar.gz"))
  names = tarfile.open(sdist).getnames()
  for module in ("pipeline/graph.py", "transforms/components.py", "io/archives.py",
                 "schemas/__init__.py", "schemas/github_event_flat.avsc",
                 "schemas/edge.avsc"):
    assert any(name.endswith(module) for name in names), module
  target = tmp_path / "site"
  subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                  "--target", str(target), sdist],
                 check=True, capture_output=True, timeout=300)
  assert {"edge.avsc", "github_event_nested.avsc", "github_event_flat.avsc"} <= set(
      os.listdir(target / "pulse" / "schemas"))
  probe = ("import pulse.schemas as s, pulse.transforms.components, pulse.io.archives;"
           "print(s.HERE, s.export_schema('flat')['name'])")
  done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                        env={**os.environ, "PYTHONPATH": str(target)}, cwd=str(tmp_path),
                        timeout=120)
  assert done.returncode == 0, done.stderr
  assert done.stdout.split() == [str(target / "pulse" / "schemas"), "GithubEventFlat"]
