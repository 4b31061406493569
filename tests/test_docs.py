"""The documentation holds together: the README stays a front page, every relative link in
README.md and docs/*.md reaches a file (and a heading, where it names one), flags are
documented once (`pulse run --help`) and the README names only real ones, and
run_dataflow.sh --help lists every flag the script itself reads."""
import argparse
import contextlib
import glob
import io
import os
import re
import subprocess

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pulse.cli import COMMANDS, main
from pulse.pipeline.options import PulseOptions

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(REPO, "README.md")
DOCS = sorted(glob.glob(os.path.join(REPO, "docs", "*.md")))
PAGES = [README] + DOCS
MAX_README_LINES = 150

FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[ \t]*$", re.M | re.S)
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s.*)?$", re.M)
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$", re.M)
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")   # http:, https:, mailto:, ...


def read(path):
  with open(path, encoding="utf-8") as f:
    return f.read()


def rel(path):
  return os.path.relpath(path, REPO)


def without_code_blocks(text):
  return FENCE.sub("", text)


def links(text):
  """The targets of inline, image and reference links outside code."""
  prose = CODE_SPAN.sub(lambda m: m.group(2).replace("[", "").replace("]", ""),
                        without_code_blocks(text))
  return LINK.findall(prose) + REFERENCE.findall(prose)


def slug(heading):
  """GitHub's anchor for a heading: markup dropped, lower case, punctuation dropped,
  spaces to hyphens."""
  text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)   # a link: its text
  text = re.sub(r"[`*_]", "", text).strip().lower()
  text = re.sub(r"[^\w\- ]", "", text)
  return text.replace(" ", "-")


def anchors(path):
  found, seen = set(), {}
  for _, heading in HEADING.findall(without_code_blocks(read(path))):
    base = slug(heading)
    n = seen.get(base, 0)
    seen[base] = n + 1
    found.add(base if n == 0 else f"{base}-{n}")
  return found


def test_readme_is_a_front_page():
  lines = read(README).splitlines()
  assert len(lines) <= MAX_README_LINES, (
      f"README.md has {len(lines)} lines (at most {MAX_README_LINES}): move detail to docs/")


def test_readme_shows_the_page_and_points_to_the_docs():
  text = read(README)
  assert re.search(r"!\[[^\]]*\]\(docs/ui-screenshot\.png\)", text)
  for command in ("./run_direct.sh", "./run_tests.sh"):
    assert command in text
  for command in ("run", "convert", "export", "firehose", "synth", "ui"):
    assert f"pulse {command}" in text, command
  linked = {os.path.normpath(target.split("#")[0]) for target in links(text)}
  for doc in DOCS:
    assert rel(doc) in linked, f"README.md does not link {rel(doc)}"


def test_the_layout_section_is_kept_whole():
  text = read(os.path.join(REPO, "docs", "architecture.md"))
  assert "Layout: where each concern lives" in text
  for paragraph in ("Adding a frame store.", "Adding an edge rule.",
                    "Adding a windowing strategy."):
    assert f"**{paragraph}**" in text, paragraph
  assert "docs/architecture.md" in read(README)


@pytest.mark.parametrize("path", DOCS, ids=rel)
def test_each_doc_has_a_title_and_a_way_back(path):
  lines = read(path).splitlines()
  assert lines[0].startswith("# ") and len(lines[0]) > 2, "the first line is a title"
  head = "\n".join(lines[1:4])
  assert "](../README.md)" in head, "a link back to ../README.md right after the title"


@pytest.mark.parametrize("path", PAGES, ids=rel)
def test_relative_links_resolve(path):
  broken = []
  for target in links(read(path)):
    if EXTERNAL.match(target) or target.startswith("//"):
      continue
    file_part, _, anchor = target.partition("#")
    where = (os.path.normpath(os.path.join(os.path.dirname(path), file_part))
             if file_part else path)
    if not os.path.exists(where):
      broken.append(f"{target}: no {rel(where)}")
    elif anchor and where.endswith(".md") and anchor not in anchors(where):
      broken.append(f"{target}: no heading #{anchor} in {rel(where)}")
    if file_part and not os.path.realpath(where).startswith(REPO + os.sep):
      broken.append(f"{target}: outside the repository")
  assert not broken, f"{rel(path)}: " + "; ".join(broken)


def test_the_pulse_run_flag_table_is_not_duplicated():
  """`pulse run --help` (pipeline/options.py) documents the flags; no page copies its table."""
  for path in PAGES:
    rows = [line for line in read(path).splitlines() if re.match(r"\|\s*`--\w+`\s*\|", line)]
    assert not rows, f"{rel(path)} has a flag table: {rows[:2]}"


def help_text(command):
  out = io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
    try:
      code = main([command, "--help"])
    except SystemExit as exit_:
      code = exit_.code
  assert code == 0, command
  return out.getvalue()


def known_flags():
  """Every flag `pulse run` takes (ours and Beam's), those of the other commands, and the
  scripts' own."""
  parser = argparse.ArgumentParser(add_help=False, conflict_handler="resolve")
  for cls in {str(c): c for c in PipelineOptions.__subclasses__()}.values():
    cls._add_argparse_args(parser)   # pylint: disable=protected-access
  PulseOptions._add_argparse_args(parser)   # pylint: disable=protected-access
  flags = {s for action in parser._actions for s in action.option_strings}
  for command in sorted(set(COMMANDS) - {"run"}):
    flags |= set(re.findall(r"--\w+", help_text(command)))
  for script in ("run_direct.sh", "run_flink.sh", "run_dataflow.sh"):
    flags |= set(re.findall(r"--\w+", read(os.path.join(REPO, script))))
  return flags | {"--help"}


def test_the_readme_names_only_real_flags():
  text = read(README)
  named = set(re.findall(r"(?<![\w-])--[a-z]\w*", text))
  unknown = sorted(named - known_flags())
  assert not unknown, f"README.md names flags no command takes: {unknown}"


def test_pulse_run_help_lists_the_flags_the_readme_points_to():
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    assert main(["run", "--help"]) == 0
  for flag in ("--input", "--sink", "--window_size", "--window_period", "--windowing",
               "--kafka_start", "--kafka_stop", "--allowed_lateness", "--runner"):
    assert flag in out.getvalue(), flag


# --- run_dataflow.sh --help ---

DATAFLOW = os.path.join(REPO, "run_dataflow.sh")


def flags_the_script_reads():
  """The flags in run_dataflow.sh's code: comments and the usage text itself left out."""
  code = re.sub(r"<<'?(\w+)'?\n.*?^\1$", "", read(DATAFLOW), flags=re.M | re.S)
  flags = set()
  for line in code.splitlines():
    line = re.sub(r"(^|\s)#.*$", "", line)
    flags |= set(re.findall(r"(?<![\w-])--[a-z]\w*", line))
  return flags


def dataflow(*args):
  return subprocess.run([DATAFLOW, *args], capture_output=True, text=True, timeout=60,
                        stdin=subprocess.DEVNULL, cwd=REPO)


def test_the_script_reads_the_flags_it_is_known_for():
  assert {"--project", "--region", "--temp_location", "--sink", "--dry_run",
          "--help"} <= flags_the_script_reads()


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_run_dataflow_help_names_every_flag_the_script_reads(flag):
  done = dataflow(flag)
  assert done.returncode == 0, done.stderr
  usage = done.stdout
  assert usage.startswith("usage: ./run_dataflow.sh")
  missing = sorted(f for f in flags_the_script_reads() if f not in usage)
  assert not missing, f"run_dataflow.sh --help does not name {missing}"
  for passed_on in ("--input", "pulse run --help", "Example"):
    assert passed_on in usage, passed_on


def test_run_dataflow_help_wins_over_missing_flags():
  done = dataflow("--project", "p", "--help")
  assert done.returncode == 0 and "usage:" in done.stdout, done.stderr
