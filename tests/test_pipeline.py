"""The pipeline runner with fake stage kinds: skipping, rerunning, staging, the lock, the CLI."""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from textgen import io
from textgen.errors import MissingArtifactError, RunDirError, UsageError
from textgen.pipeline import stages as stage_registry
from textgen.pipeline.kinds import Param, StageKind
from textgen.pipeline.lock import LOCK_NAME, Lock, record_stage
from textgen.pipeline.runner import AFTER_UPSTREAM, BLOCKED, NOT_SELECTED, RUN, UP_TO_DATE, Runner, StageFailed
from textgen.pipeline.spec import load_spec
from textgen.pipeline.staging import exclusive

PIPELINE = """\
# textgen run {path}
run_dir: {run}
stages:
  a: {{params: {{corpus: {corpus}}}}}
  b: {{params: {{n: 2}}, outs: [b.txt, b.png]}}
  c: {{params: {{hidden: 8}}}}
  d: {{}}
"""


class Fakes:
    """Four chained fake stages (a -> b -> c -> d) whose outputs depend on their inputs and params."""

    def __init__(self, tmp_path: Path) -> None:
        self.calls: list[str] = []
        self.saw_own_output: list[str] = []
        self.code = tmp_path / "code" / "fake_code_a.py"
        self.code.parent.mkdir()
        self.code.write_text("VERSION = 1\n")
        self.corpus = tmp_path / "corpus.txt"
        self.corpus.write_text("jerry: hello\n")
        self.run_dir = tmp_path / "run"
        self.path = tmp_path / "p.yaml"
        self.path.write_text(PIPELINE.format(path=self.path, run=self.run_dir, corpus=self.corpus))
        self.kinds = {
            "a": StageKind(
                "a",
                {"corpus": Param("str"), "scale": Param("int", 1, min=1)},
                ("a.txt",),
                self._a,
                external_deps=lambda p: [Path(p["corpus"])],
                sources=("fake_code_a",),
            ),
            "b": StageKind(
                "b",
                {
                    "n": Param("int", 2, min=1),
                    "device": Param("str", "cpu", tracked=False),
                    "plot": Param("bool", True),
                },
                ("b.txt",),
                self._b,
                reads=("a.txt",),
                extras=("b.png",),
            ),
            "c": StageKind(
                "c",
                {"hidden": Param("int", 8, min=1), "lr": Param("float", 0.1, gt=0), "fail": Param("str", "no")},
                ("c.txt",),
                self._c,
                reads=("b.txt",),
                optional_reads=("hint.txt",),
            ),
            "d": StageKind("d", {"prime": Param("str_list", ["jerry"])}, ("samples.txt",), self._d, reads=("c.txt",)),
        }

    def _enter(self, name: str, run_dir: Path, out: str) -> None:
        self.calls.append(name)
        if (run_dir / out).exists():
            self.saw_own_output.append(name)

    def _a(self, d: Path, p: Mapping[str, Any], log: Any) -> None:
        self._enter("a", d, "a.txt")
        log("reading corpus")
        (d / "a.txt").write_text(Path(p["corpus"]).read_text().upper() * p["scale"])

    def _b(self, d: Path, p: Mapping[str, Any], log: Any) -> None:
        self._enter("b", d, "b.txt")
        (d / "b.txt").write_text((d / "a.txt").read_text() + f"|n={p['n']}")
        if p["plot"]:
            (d / "b.png").write_bytes(b"png")

    def _c(self, d: Path, p: Mapping[str, Any], log: Any) -> None:
        self._enter("c", d, "c.txt")
        (d / "c.txt").write_text((d / "b.txt").read_text() + f"|hidden={p['hidden']},lr={p['lr']}")
        (d / "c.log").write_text("undeclared output")
        if p["fail"] == "error":
            raise RuntimeError("boom")
        if p["fail"] == "interrupt":
            raise KeyboardInterrupt
        if p["fail"] == "usage":
            raise UsageError("bad combination; use another")

    def _d(self, d: Path, p: Mapping[str, Any], log: Any) -> None:
        self._enter("d", d, "samples.txt")
        (d / "samples.txt").write_text(f"{p['prime']}: " + (d / "c.txt").read_text())

    def runner(self, *overrides: str, run_dir: Path | None = None) -> Runner:
        return Runner(load_spec(self.path, overrides, kinds=self.kinds), run_dir)

    def run(self, *overrides: str, **kw: Any) -> list[str]:
        self.calls.clear()
        self.runner(*overrides).run(**kw)
        return list(self.calls)

    def lock_bytes(self) -> bytes:
        return (self.run_dir / LOCK_NAME).read_bytes()


@pytest.fixture()
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fakes:
    f = Fakes(tmp_path)
    monkeypatch.syspath_prepend(str(f.code.parent))
    importlib.invalidate_caches()
    monkeypatch.setattr(stage_registry, "KINDS", f.kinds)
    return f


def test_first_run_runs_all_and_second_run_skips_every_stage(fakes: Fakes) -> None:
    assert fakes.run() == ["a", "b", "c", "d"]
    assert (fakes.run_dir / "samples.txt").read_text() == "['jerry']: JERRY: HELLO\n|n=2|hidden=8,lr=0.1"
    assert (fakes.run_dir / "c.log").read_text() == "undeclared output"  # undeclared new files are kept too
    report = fakes.runner().run()
    assert report.ran == [] and report.skipped == ["a", "b", "c", "d"]
    assert fakes.saw_own_output == []  # a rerun never sees its stale outputs
    assert not (fakes.run_dir / ".staging").exists()


def test_unchanged_files_are_not_rehashed(fakes: Fakes, monkeypatch: pytest.MonkeyPatch) -> None:
    fakes.run()
    hashed: list[str] = []
    real = io.sha256_file
    monkeypatch.setattr(io, "sha256_file", lambda p, *a: hashed.append(Path(p).name) or real(p, *a))
    assert fakes.run() == []
    assert hashed == []  # (size, mtime_ns) matched for every input and output


def test_changing_one_generator_param_reruns_only_it_and_sample(fakes: Fakes) -> None:
    fakes.run()
    assert [s.describe() for s in fakes.runner("c.hidden=16").plan()][2] == "run: params changed: hidden 8 -> 16"
    assert fakes.run("c.hidden=16") == ["c", "d"]
    assert "hidden=16" in (fakes.run_dir / "samples.txt").read_text()


def test_untracked_param_does_not_rerun(fakes: Fakes) -> None:
    fakes.run()
    assert fakes.run("b.device=cuda") == []


def test_corpus_content_change_reruns_everything_but_touch_does_not(fakes: Fakes) -> None:
    fakes.run()
    st = fakes.corpus.stat()
    os.utime(fakes.corpus, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    assert fakes.run() == []
    lock = json.loads(fakes.lock_bytes())
    assert lock["stages"]["a"]["inputs"][str(fakes.corpus)]["mtime_ns"] == st.st_mtime_ns + 5_000_000_000
    fakes.corpus.write_text("george: hi\n")
    plan = fakes.runner().plan()
    assert [(s.action, s.reasons) for s in plan[:2]] == [
        (RUN, [f"input changed: {fakes.corpus}"]),
        (AFTER_UPSTREAM, ["reruns if a.txt change"]),
    ]
    assert fakes.run() == ["a", "b", "c", "d"]


def test_upstream_rerun_with_identical_output_does_not_rerun_downstream(fakes: Fakes) -> None:
    fakes.run()
    fakes.code.write_text("VERSION = 2\n")  # a's code changed; its output does not
    assert fakes.runner().plan()[0].reasons == ["stage code changed"]
    assert fakes.run() == ["a"]


def test_deleting_or_altering_an_output_reruns_its_stage(fakes: Fakes) -> None:
    fakes.run()
    (fakes.run_dir / "b.txt").unlink()
    assert fakes.runner().plan()[1].reasons == ["output missing: b.txt"]
    assert fakes.run() == ["b"]  # b.txt comes back identical, so c and d stay
    (fakes.run_dir / "c.txt").write_text("tampered")
    assert fakes.runner().plan()[2].reasons == ["output altered: c.txt"]
    assert fakes.run() == ["c"]


def test_extras_a_rerun_no_longer_writes_are_removed(fakes: Fakes) -> None:
    fakes.run()
    assert (fakes.run_dir / "b.png").exists()
    assert fakes.run("b.plot=false") == ["b"]
    assert not (fakes.run_dir / "b.png").exists()


@pytest.mark.parametrize("how", ["error", "interrupt", "usage"])
def test_failed_stage_leaves_previous_outputs_and_lock(fakes: Fakes, how: str) -> None:
    fakes.run()
    before = {p.name: p.read_bytes() for p in fakes.run_dir.iterdir() if p.is_file()}
    with pytest.raises(KeyboardInterrupt if how == "interrupt" else StageFailed) as info:
        fakes.run("c.hidden=32", f"c.fail={how}")
    if how == "usage":
        assert info.value.exit_code == 2 and "bad combination" in str(info.value)
    after = {p.name: p.read_bytes() for p in fakes.run_dir.iterdir() if p.is_file()}
    assert after == before
    assert not (fakes.run_dir / ".staging").exists()
    assert fakes.run("c.hidden=32") == ["c", "d"]


def test_failure_keeps_earlier_stages_recorded(fakes: Fakes) -> None:
    with pytest.raises(StageFailed, match="stage c failed .*boom.*previous outputs kept"):
        fakes.run("c.fail=error")
    assert fakes.calls == ["a", "b", "c"]
    assert set(json.loads(fakes.lock_bytes())["stages"]) == {"a", "b"}
    assert not (fakes.run_dir / "c.txt").exists()
    assert fakes.run() == ["c", "d"]


def test_corrupt_lock_is_rebuilt_with_a_warning(fakes: Fakes) -> None:
    fakes.run()
    (fakes.run_dir / LOCK_NAME).write_text('{"format": 1, "stages": {"a": ')
    runner = fakes.runner()
    assert len(runner.warnings) == 1 and "corrupt" in runner.warnings[0] and LOCK_NAME in runner.warnings[0]
    fakes.calls.clear()
    report = runner.run()
    assert report.warnings == runner.warnings and fakes.calls == ["a", "b", "c", "d"]
    assert Lock.load(fakes.run_dir)[1] is None
    assert fakes.run() == []


def test_dry_run_plan_changes_nothing(fakes: Fakes) -> None:
    plan = fakes.runner().plan()
    assert [(s.action, s.reasons) for s in plan][:2] == [
        (RUN, ["never run (no entry in pipeline.lock)"]),
        (RUN, ["never run (no entry in pipeline.lock)"]),
    ]
    assert not fakes.run_dir.exists()


def test_until_from_and_force(fakes: Fakes) -> None:
    assert fakes.run(until="b") == ["a", "b"]
    assert [s.action for s in fakes.runner().plan(until="b")] == [UP_TO_DATE, UP_TO_DATE, NOT_SELECTED, NOT_SELECTED]
    assert fakes.run() == ["c", "d"]
    assert fakes.run(force="b") == ["b"]  # same output: downstream stays
    assert fakes.run(force="all", from_="c") == ["c", "d"]
    assert fakes.run(force="all") == ["a", "b", "c", "d"]
    with pytest.raises(UsageError, match="did you mean 'c'"):
        fakes.runner().plan(force="cc")
    with pytest.raises(UsageError, match="comes after"):
        fakes.runner().plan(from_="c", until="a")


def test_from_without_upstream_outputs_says_what_to_run(fakes: Fakes) -> None:
    plan = fakes.runner().plan(from_="c")
    assert plan[2].action == BLOCKED and "--until b" in plan[2].reasons[0]
    with pytest.raises(MissingArtifactError, match=r"b.txt; run `textgen run .* --until b` first"):
        fakes.run(from_="c")


def test_run_dir_override(fakes: Fakes, tmp_path: Path) -> None:
    other = tmp_path / "other"
    fakes.runner(run_dir=other).run()
    assert (other / "samples.txt").exists() and not fakes.run_dir.exists()


def test_record_stage_makes_a_hand_run_count(fakes: Fakes) -> None:
    fakes.run_dir.mkdir()
    fakes._a(fakes.run_dir, {"corpus": str(fakes.corpus), "scale": 1}, print)
    assert record_stage(fakes.run_dir, "a", {"corpus": str(fakes.corpus)}, kinds=fakes.kinds) is None
    assert fakes.run() == ["b", "c", "d"]
    with pytest.raises(Exception, match="unknown parameter"):
        record_stage(fakes.run_dir, "a", {"corpus": "x", "bogus": 1}, kinds=fakes.kinds)


def test_optional_input_appearing_or_changing_reruns(fakes: Fakes) -> None:
    fakes.run()
    (fakes.run_dir / "hint.txt").write_text("v1")
    assert fakes.runner().plan()[2].reasons == ["optional input added: hint.txt"]
    assert fakes.run() == ["c"]
    (fakes.run_dir / "hint.txt").write_text("v2")
    assert fakes.runner().plan()[2].reasons == ["input changed: hint.txt"]
    (fakes.run_dir / "hint.txt").unlink()
    assert fakes.runner().plan()[2].reasons == ["optional input removed: hint.txt"]


def test_one_run_at_a_time_per_run_dir(fakes: Fakes) -> None:
    with exclusive(fakes.run_dir), pytest.raises(RunDirError, match="another textgen run is using"):
        fakes.runner().run()
    assert fakes.run() == ["a", "b", "c", "d"]


# ----- CLI ---------------------------------------------------------------------------------------
def _cli(*args: str) -> Any:
    from textgen.cli import app

    return CliRunner().invoke(app, list(args))


def test_cli_run_status_dry_run_and_force(fakes: Fakes) -> None:
    p = str(fakes.path)
    res = _cli("status", p)
    assert res.exit_code == 0 and res.stdout.count("will run: never run") == 4
    res = _cli("run", p, "--dry-run")
    assert res.exit_code == 0 and "dry run: nothing changed" in res.stdout and not fakes.run_dir.exists()
    res = _cli("run", p, "--until", "c")
    assert res.exit_code == 0 and "ran 3, skipped 0" in res.stdout and "reading corpus" in res.stdout
    res = _cli("status", p, "--set", "a.scale=2")
    lines = res.stdout.splitlines()
    assert "a  will run: params changed: scale 1 -> 2" in lines[1]
    assert "b  check after upstream" in lines[2] and "d  will run: never run" in lines[4]
    res = _cli("run", p, "--force", "b")
    assert res.exit_code == 0 and "b  running: forced (--force)" in res.stdout and "ran 2, skipped 2" in res.stdout
    res = _cli("run", "--force", p)
    assert res.exit_code == 0 and "ran 4, skipped 0" in res.stdout
    res = _cli("run", p, "--from", "b", "--force")
    assert res.exit_code == 0 and "ran 3, skipped 0" in res.stdout


def test_cli_reports_every_validation_error_and_stage_failures(fakes: Fakes) -> None:
    p = str(fakes.path)
    res = _cli("run", p, "--set", "c.hiden=3", "--set", "b.n=0", "--set", "c.lr=fast", "--set", "e.x=1")
    assert res.exit_code == 2
    assert "4 error(s)" in res.stderr
    for text in ("did you mean 'hidden'", "b.params.n: must be >= 1", "lr: expected a number", "no stage 'e'"):
        assert text in res.stderr
    res = _cli("run", p, "--set", "c.fail=error")
    assert res.exit_code == 1 and "stage c failed" in res.stderr and "previous outputs kept" in res.stderr
    res = _cli("run", p, "--until", "nope")
    assert res.exit_code == 2 and "--until 'nope': no such stage" in res.stderr
