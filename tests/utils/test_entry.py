"""The top-level entry-point handler: exit statuses, one-line messages, debug mode."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap

import pytest

from molediff.utils import entry
from molediff.utils.entry import entry_point, run_entry, strip_debug_flag
from molediff.utils.errors import (
    CheckpointError,
    ConfigError,
    InputError,
    MolediffError,
    OutputError,
    UsageError,
)

PROG = "molediff test"
HINT = "(run with --debug or MOLEDIFF_DEBUG=1 for the traceback)"


@pytest.fixture(autouse=True)
def _no_debug_env(monkeypatch):
    # a developer's own MOLEDIFF_DEBUG=1 must not flip the "no traceback" assertions
    monkeypatch.delenv("MOLEDIFF_DEBUG", raising=False)


def raiser(exc: BaseException):
    def main(argv: list[str]) -> int:
        raise exc

    return main


def test_exit_code_convention():
    assert MolediffError.exit_code == 2
    assert UsageError.exit_code == 2 and ConfigError.exit_code == 2
    assert OutputError.exit_code == 2
    assert CheckpointError.exit_code == 2  # existing CLI tests rely on 2
    assert InputError.exit_code == 1
    for cls in (UsageError, InputError, OutputError, ConfigError, CheckpointError):
        assert issubclass(cls, MolediffError)


def test_return_value_is_the_status(capsys):
    seen = []

    def main(argv: list[str]) -> int | None:
        seen.append(argv)
        return None if argv == ["a"] else 3

    assert run_entry(main, ["a"], PROG) == 0
    assert run_entry(main, ("b", "c"), PROG) == 3
    assert seen == [["a"], ["b", "c"]]
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("cls", "code"),
    [(InputError, 1), (UsageError, 2), (OutputError, 2), (ConfigError, 2),
     (CheckpointError, 2), (MolediffError, 2)],
)
def test_user_error_is_one_line_with_its_status(capsys, cls, code):
    assert run_entry(raiser(cls("no good\n  at all")), [], PROG) == code
    err = capsys.readouterr().err
    assert err == f"{PROG}: error: no good at all\n"


def test_user_error_without_message_names_its_type(capsys):
    assert run_entry(raiser(InputError()), [], PROG) == 1
    assert capsys.readouterr().err == f"{PROG}: error: InputError\n"


def test_odd_exit_code_cannot_turn_error_into_success(capsys):
    class Weird(MolediffError):
        exit_code = 0

    assert run_entry(raiser(Weird("x")), [], PROG) == 2
    assert capsys.readouterr().err == f"{PROG}: error: x\n"


def test_keyboard_interrupt(capsys):
    assert run_entry(raiser(KeyboardInterrupt()), [], PROG) == 130
    captured = capsys.readouterr()
    assert captured.err == f"{PROG}: interrupted; nothing written\n"
    assert captured.out == ""


def test_internal_error_is_one_line_without_traceback(capsys):
    assert run_entry(raiser(ValueError("boom\nsecond line")), [], PROG) == 1
    err = capsys.readouterr().err
    assert err == f"{PROG}: internal error: ValueError: boom second line {HINT}\n"
    assert "Traceback" not in err


def test_internal_error_without_message(capsys):
    assert run_entry(raiser(RuntimeError()), [], PROG) == 1
    assert capsys.readouterr().err == f"{PROG}: internal error: RuntimeError {HINT}\n"


def test_internal_error_long_message_is_cut(capsys):
    assert run_entry(raiser(RuntimeError("x" * 10_000)), [], PROG) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and len(err) < 700 and "x..." in err and err.endswith(f"{HINT}\n")


def test_debug_flag_is_stripped_and_shows_traceback(capsys):
    seen = []

    def main(argv: list[str]) -> int:
        seen.append(argv)
        raise ValueError("boom")

    assert run_entry(main, ["in.smi", "--debug", "-n", "2"], PROG) == 1
    assert seen == [["in.smi", "-n", "2"]]
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "ValueError: boom" in err
    assert "internal error" not in err


def test_debug_flag_shows_traceback_of_user_error_same_status(capsys):
    assert run_entry(raiser(InputError("bad file")), ["--debug"], PROG) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "InputError: bad file" in err


@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_debug_env_shows_traceback(capsys, monkeypatch, value):
    monkeypatch.setenv("MOLEDIFF_DEBUG", value)
    assert run_entry(raiser(ValueError("boom")), [], PROG) == 1
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "", "false"])
def test_debug_env_off_values(capsys, monkeypatch, value):
    monkeypatch.setenv("MOLEDIFF_DEBUG", value)
    assert run_entry(raiser(ValueError("boom")), [], PROG) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1


def test_debug_interrupt_keeps_status_and_message(capsys):
    assert run_entry(raiser(KeyboardInterrupt()), ["--debug"], PROG) == 130
    err = capsys.readouterr().err
    assert "Traceback" in err and err.endswith(f"{PROG}: interrupted; nothing written\n")


def test_debug_after_double_dash_is_an_operand(capsys):
    seen = []

    def main(argv: list[str]) -> int:
        seen.append(argv)
        raise ValueError("boom")

    assert run_entry(main, ["-x", "--", "--debug"], PROG) == 1
    assert seen == [["-x", "--", "--debug"]]
    assert "Traceback" not in capsys.readouterr().err


def test_strip_debug_flag():
    assert strip_debug_flag(["a", "--debug", "b", "--debug"]) == (["a", "b"], True)
    assert strip_debug_flag(["a", "--debugger"]) == (["a", "--debugger"], False)
    assert strip_debug_flag(["--", "--debug"]) == (["--", "--debug"], False)


def test_argv_none_reads_and_temporarily_strips_sys_argv(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["molediff-x", "--debug", "k=v"])
    seen = []

    def main(argv: list[str]) -> None:
        # Hydra-based commands read sys.argv rather than their argument
        seen.append((argv, list(sys.argv)))

    assert run_entry(main, None, PROG) == 0
    assert seen == [(["k=v"], ["molediff-x", "k=v"])]
    assert sys.argv == ["molediff-x", "--debug", "k=v"]


def test_system_exit_passes_through(capsys):
    def main(argv: list[str]) -> int:
        parser = argparse.ArgumentParser(prog=PROG)
        parser.add_argument("--steps", type=int)
        parser.parse_args(argv)
        return 0

    with pytest.raises(SystemExit) as info:
        run_entry(main, ["--steps", "many"], PROG)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid int value" in err and "internal error" not in err

    with pytest.raises(SystemExit) as info:
        run_entry(raiser(SystemExit(5)), [], PROG)
    assert info.value.code == 5


def test_entry_point_decorator(capsys):
    @entry_point(PROG)
    def main(argv: list[str]) -> int:
        """Doc of main."""
        if argv:
            raise UsageError(f"unknown thing {argv[0]!r}")
        return 0

    assert main([]) == 0
    assert main(["x"]) == 2
    assert capsys.readouterr().err == f"{PROG}: error: unknown thing 'x'\n"
    assert main.__doc__ == "Doc of main." and main.__name__ == "main"
    with pytest.raises(UsageError):
        main.__wrapped__(["x"])


def _pipe_stdout(monkeypatch, *, reader_open: bool):
    r, w = os.pipe()
    if not reader_open:
        os.close(r)
    out = os.fdopen(w, "w")
    monkeypatch.setattr(sys, "stdout", out)
    return out, (r if reader_open else None)


def test_broken_stdout_pipe_is_quiet(monkeypatch, capsys):
    out, _ = _pipe_stdout(monkeypatch, reader_open=False)

    def main(argv: list[str]) -> int:
        for i in range(100_000):  # far more than a pipe buffer: the write must fail
            print(i)
        return 0

    try:
        assert run_entry(main, [], PROG) == 141
        assert capsys.readouterr().err == ""
        # stdout now points at /dev/null: the final flush at exit must not raise again
        out.write("more\n")
        out.flush()
    finally:
        monkeypatch.undo()
        out.close()


def test_broken_pipe_elsewhere_is_an_internal_error(monkeypatch, capsys):
    out, r = _pipe_stdout(monkeypatch, reader_open=True)
    try:
        assert run_entry(raiser(BrokenPipeError(32, "Broken pipe")), [], PROG) == 1
        err = capsys.readouterr().err
        assert err == f"{PROG}: internal error: BrokenPipeError: [Errno 32] Broken pipe {HINT}\n"
    finally:
        monkeypatch.undo()
        out.close()
        os.close(r)


def test_head_in_a_real_pipeline(tmp_path):
    # end to end: `prog | head -1` -> status 141 and no "Exception ignored" noise at exit
    script = tmp_path / "prog.py"
    script.write_text(textwrap.dedent(
        f"""
        import sys
        from molediff.utils.entry import run_entry

        def main(argv):
            for i in range(200_000):
                print("line", i)

        sys.exit(run_entry(main, None, {PROG!r}))
        """
    ))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout.readline() == b"line 0\n"
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 141
    assert err == ""


def test_module_constants_match_docs():
    assert (entry.EXIT_INTERRUPTED, entry.EXIT_BROKEN_PIPE, entry.EXIT_INTERNAL) == (130, 141, 1)
