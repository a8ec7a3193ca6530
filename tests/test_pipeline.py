"""The pipeline runner with fake steps: skipping, rerunning, staging, the lock, the CLI."""

from __future__ import annotations

import fcntl
import importlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from textgen import io
from textgen import steps as step_registry
from textgen.errors import MissingArtifactError, RunDirError, UsageError
from textgen.options import Problem, option
from textgen.pipeline.runner import AFTER_UPSTREAM, BLOCKED, NOT_SELECTED, RUN, UP_TO_DATE, Runner, StageFailed
from textgen.pipeline.spec import load_spec
from textgen.rundir import LOCK_FILE
from textgen.steps.base import Step
from textgen.steps.execute import run_step
from textgen.steps.lockfile import LOCK_NAME, Lock

PIPELINE = """\
# textgen run {path}
run_dir: {run}
stages:
  a: {{params: {{corpus: {corpus}}}}}
  b: {{params: {{n: 2}}, outs: [b.txt, b.png]}}
  c: {{params: {{hidden: 8}}}}
  d: {{}}
"""


@dataclass(frozen=True)
class AConfig:
    corpus: str = option("", "The corpus file.")
    scale: int = option(1, "Copies of it.", min=1)

    def cross_check(self) -> list[Problem]:
        return [] if self.corpus else [Problem("corpus", "is required")]


@dataclass(frozen=True)
class BConfig:
    n: int = option(2, "A number.", min=1)
    device: str = option("cpu", "Where it runs.", tracked=False)
    plot: bool = option(True, "Write b.png.")


@dataclass(frozen=True)
class CConfig:
    hidden: int = option(8, "Width.", min=1)
    lr: float = option(0.1, "Rate.", gt=0)
    fail: str = option("no", "How to fail.")


@dataclass(frozen=True)
class DConfig:
    prime: tuple[str, ...] = option(("jerry",), "Primes.")


class Fakes:
    """Four chained fake steps (a -> b -> c -> d) whose outputs depend on their inputs and params."""

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
        self.steps = {
            "a": Step(
                "a", AConfig, self._a, "a", outputs=lambda c: ("a.txt",),
                external_deps=lambda c: [Path(c.corpus)], sources=("fake_code_a",),
            ),
            "b": Step("b", BConfig, self._b, "b", reads=("a.txt",), outputs=lambda c: ("b.txt",), extras=("b.png",)),
            "c": Step(
                "c", CConfig, self._c, "c", reads=("b.txt",), outputs=lambda c: ("c.txt",),
                optional_reads=lambda c: ("hint.txt",),
            ),
            "d": Step("d", DConfig, self._d, "d", reads=("c.txt",), outputs=lambda c: ("samples.txt",)),
        }  # fmt: skip

    def _enter(self, name: str, run_dir: Path, out: str) -> None:
        self.calls.append(name)
        if (run_dir / out).exists():
            self.saw_own_output.append(name)

    def _a(self, d: Path, c: AConfig, progress: Any) -> None:
        self._enter("a", d, "a.txt")
        progress("status", {"message": "reading corpus"})
        (d / "a.txt").write_text(Path(c.corpus).read_text().upper() * c.scale)

    def _b(self, d: Path, c: BConfig, progress: Any) -> None:
        self._enter("b", d, "b.txt")
        (d / "b.txt").write_text((d / "a.txt").read_text() + f"|n={c.n}")
        if c.plot:
            (d / "b.png").write_bytes(b"png")

    def _c(self, d: Path, c: CConfig, progress: Any) -> None:
        self._enter("c", d, "c.txt")
        (d / "c.txt").write_text((d / "b.txt").read_text() + f"|hidden={c.hidden},lr={c.lr}")
        (d / "c.log").write_text("undeclared output")
        if c.fail == "error":
            raise RuntimeError("boom")
        if c.fail == "interrupt":
            raise KeyboardInterrupt
        if c.fail == "usage":
            raise UsageError("bad combination; use another")

    def _d(self, d: Path, c: DConfig, progress: Any) -> None:
        self._enter("d", d, "samples.txt")
        (d / "samples.txt").write_text(f"{list(c.prime)}: " + (d / "c.txt").read_text())

    def runner(self, *overrides: str, run_dir: Path | None = None) -> Runner:
        return Runner(load_spec(self.path, overrides, steps=self.steps), run_dir)

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
    monkeypatch.setattr(step_registry, "STEPS", f.steps)
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
    assert lock["steps"]["a"]["inputs"][str(fakes.corpus)]["mtime_ns"] == st.st_mtime_ns + 5_000_000_000
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
    assert fakes.runner().plan()[0].reasons == ["step code changed"]
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
    assert set(json.loads(fakes.lock_bytes())["steps"]) == {"a", "b"}
    assert not (fakes.run_dir / "c.txt").exists()
    assert fakes.run() == ["c", "d"]


def test_corrupt_lock_is_rebuilt_with_a_warning(fakes: Fakes) -> None:
    fakes.run()
    (fakes.run_dir / LOCK_NAME).write_text('{"format": 2, "steps": {"a": ')
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


def test_a_step_run_by_hand_counts_for_the_pipeline(fakes: Fakes) -> None:
    step = fakes.steps["a"]
    run_step(step, fakes.run_dir, step.configure({"corpus": str(fakes.corpus)}))  # what a single command does
    assert fakes.calls == ["a"] and fakes.run() == ["b", "c", "d"]
    run_step(step, fakes.run_dir, step.configure({"corpus": str(fakes.corpus), "scale": 2}))
    plan = fakes.runner().plan()  # recorded with the params it ran with, which the pipeline does not ask for
    assert plan[0].reasons == ["params changed: scale 2 -> 1"] and plan[1].action == AFTER_UPSTREAM


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
    fakes.run_dir.mkdir()
    fd = os.open(fakes.run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT)
    os.write(fd, json.dumps({"command": "textgen train-generator", "pid": 4242, "since": "noon"}).encode())
    fcntl.flock(fd, fcntl.LOCK_EX)  # another process holds the run dir
    try:
        with pytest.raises(RunDirError, match=r"in use by `textgen train-generator` \(pid 4242, since noon\)"):
            fakes.runner().run()
        step = fakes.steps["a"]
        with pytest.raises(RunDirError, match="in use by"):  # a single command waits its turn too
            run_step(step, fakes.run_dir, step.configure({"corpus": str(fakes.corpus)}))
    finally:
        os.close(fd)
    assert fakes.run() == ["a", "b", "c", "d"]


def test_a_symlinked_lock_file_is_not_followed(fakes: Fakes, tmp_path: Path) -> None:
    fakes.run_dir.mkdir()
    outside = tmp_path / "outside.txt"
    os.symlink(outside, fakes.run_dir / LOCK_FILE)
    with pytest.raises(RunDirError, match="symbolic link"):
        fakes.runner().run()
    assert not outside.exists()


def test_a_commit_cut_by_a_kill_is_finished_next_time(fakes: Fakes, monkeypatch: pytest.MonkeyPatch) -> None:
    from textgen.steps import staging

    fakes.run()
    with monkeypatch.context() as m:  # the process dies once the commit marker is written: no cleanup runs
        m.setattr(staging, "_apply", lambda *a: (_ for _ in ()).throw(SystemExit("killed")))
        m.setattr(staging.Staging, "__exit__", lambda *a: None)
        with pytest.raises(SystemExit):
            fakes.run("b.n=3")
    assert "n=2" in (fakes.run_dir / "b.txt").read_text()
    assert staging.recover(fakes.run_dir) and "n=3" in (fakes.run_dir / "b.txt").read_text()
    assert fakes.runner("b.n=3").plan()[1].action == UP_TO_DATE  # the lock entry was committed with it
    assert not (fakes.run_dir / ".staging").exists()


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
    for text in ("did you mean 'hidden'", "b.params.n: must be at least 1", "lr: expected a number", "no stage 'e'"):
        assert text in res.stderr
    res = _cli("run", p, "--set", "c.fail=error")
    assert res.exit_code == 1 and "stage c failed" in res.stderr and "previous outputs kept" in res.stderr
    res = _cli("run", p, "--until", "nope")
    assert res.exit_code == 2 and "--until 'nope': no such stage" in res.stderr
