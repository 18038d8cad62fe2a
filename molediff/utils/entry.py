"""One top-level error handler for every command-line entry point.

Wrap a command's ``main(argv) -> int | None`` with :func:`run_entry` (or decorate it with
:func:`entry_point`) and every way it can end maps to one exit status and at most one
line on stderr:

==========================  ======  =====================================================
what happened               status  stderr
==========================  ======  =====================================================
``main`` returned ``None``  0       (whatever ``main`` printed)
``main`` returned ``n``     n       (whatever ``main`` printed)
:class:`MolediffError`      its     ``<prog>: error: <message>`` (one line)
                            ``exit_code`` (1 bad data, 2 bad usage; see ``errors``)
``KeyboardInterrupt``       130     ``<prog>: interrupted; nothing written``
broken pipe on stdout       141     nothing (``molediff ... | head`` is not an error)
any other exception         1       ``<prog>: internal error: <Type>: <message> (run with
                                    --debug or MOLEDIFF_DEBUG=1 for the traceback)``
``SystemExit``              as is   passed through untouched (argparse's usage errors
                                    exit 2 with argparse's own message)
==========================  ======  =====================================================

Debug mode (``--debug`` anywhere before a ``--`` in the arguments, removed before
``main`` sees them, or ``MOLEDIFF_DEBUG`` set to anything but ``""``, ``0``, ``false``,
``no``, ``off``) prints the full traceback instead of the one-line message, for user
errors and interrupts too, and still returns the same status so scripts behave the same.

Why 141 for a broken pipe: it is what the shell reports for a process killed by SIGPIPE
(128 + 13), i.e. what ``cat``, ``grep`` and friends exit with in ``... | head``; it is
not 0 because the output really was cut short, and it is not 1 so that it cannot be
mistaken for an error of the command itself. Only ``set -o pipefail`` pipelines see it.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable, Sequence

from molediff.utils.errors import MolediffError

#: exit status after Ctrl-C (128 + SIGINT), the shell convention
EXIT_INTERRUPTED = 130
#: exit status when stdout's reader went away (128 + SIGPIPE), the shell convention
EXIT_BROKEN_PIPE = 141
#: exit status of an unexpected exception (a bug, or an error not yet given a clear message)
EXIT_INTERNAL = 1

#: the command-line flag that turns on debug mode
DEBUG_FLAG = "--debug"
#: the environment variable that turns on debug mode
DEBUG_ENV = "MOLEDIFF_DEBUG"

# An internal error's message can be huge (a tensor repr, a whole config); one terminal
# line's worth is enough to recognise it, the full text is one --debug away.
_MAX_INTERNAL_MESSAGE = 500

MainFn = Callable[[list[str]], int | None]


def debug_enabled(argv: Sequence[str] | None = None) -> bool:
    """True when ``MOLEDIFF_DEBUG`` is set to a true value or ``--debug`` is in ``argv``
    (before any ``--``)."""
    env = os.environ.get(DEBUG_ENV, "").strip().lower()
    if env not in ("", "0", "false", "no", "off"):
        return True
    return argv is not None and DEBUG_FLAG in _options_part(list(argv))


def strip_debug_flag(argv: Sequence[str]) -> tuple[list[str], bool]:
    """Remove every ``--debug`` before the first ``--`` from ``argv``.

    Returns:
        The remaining arguments and whether the flag was present. Arguments after ``--``
        are left alone: there ``--debug`` is an operand (a file named ``--debug``), not
        our flag.
    """
    args = list(argv)
    head = _options_part(args)
    tail = args[len(head):]
    kept = [a for a in head if a != DEBUG_FLAG]
    return kept + tail, len(kept) != len(head)


def _options_part(args: list[str]) -> list[str]:
    return args[: args.index("--")] if "--" in args else args


def one_line(message: object) -> str:
    """``message`` as a single line: every run of whitespace (newlines included) becomes
    one space, so an error always fits the ``<prog>: error: <message>`` line."""
    return " ".join(str(message).split())


#: the extra (pyproject.toml) that brings each optional top-level package
EXTRA_OF = {"rdkit": "chem", "qm9pack": "chem", "posebusters": "chem", "biotite": "chem",
            "trimesh": "shapes", "skimage": "shapes", "soundfile": "audio", "PIL": "images"}


def missing_extra_message(exc: ModuleNotFoundError) -> str | None:
    """One line naming the missing package and the extra to install, or ``None`` when the
    missing module is molediff's own (a bug, not an install choice)."""
    top = (exc.name or "").split(".")[0]
    if not top or top == "molediff":
        return None
    extra = EXTRA_OF.get(top, "all")
    return (f"this needs the Python package {top!r}, which is not installed: install the "
            f"extra of its modality, pip install -c constraints.txt -e '.[{extra}]' "
            "(or '.[all]')")


def run_entry(main: MainFn, argv: Sequence[str] | None, prog: str) -> int:
    """Run ``main(argv)`` and turn however it ends into an exit status (see the module
    docstring for the table).

    Args:
        main: the command; takes its arguments (without the program name) and returns an
            exit status, or ``None`` for 0.
        argv: the arguments; ``None`` means ``sys.argv[1:]``. ``--debug`` is removed
            before ``main`` sees them. When ``argv`` is ``None``, ``sys.argv`` itself is
            also shown without ``--debug`` while ``main`` runs (and restored after),
            because Hydra-based commands read ``sys.argv`` rather than their argument.
        prog: the name that prefixes every message, e.g. ``"molediff conformers"``.

    Returns:
        The exit status, for ``sys.exit``.

    Raises:
        SystemExit: raised by ``main`` (argparse's ``--help`` and usage errors) is passed
            through unchanged.
    """
    from_sys_argv = argv is None
    args, flag = strip_debug_flag(sys.argv[1:] if argv is None else argv)
    debug = flag or debug_enabled()
    saved_sys_argv = sys.argv
    if from_sys_argv and flag:
        sys.argv = [sys.argv[0], *args]
    try:
        status = main(args)
    except (Exception, KeyboardInterrupt):
        return report_exception(prog, debug)
    finally:
        if from_sys_argv and flag:
            sys.argv = saved_sys_argv
    return 0 if status is None else int(status)


def report_exception(prog: str, debug: bool) -> int:
    """Report the exception being handled the way every entry point does and return the
    exit status (see the module docstring): one line, or the traceback when ``debug``.
    Also used by the Hydra commands' handler, after it has cleaned up the run directory."""
    exc = sys.exc_info()[1]
    if isinstance(exc, MolediffError):
        if debug:
            _print_traceback()
        else:
            _say(f"{prog}: error: {one_line(exc) or type(exc).__name__}")
        return _exit_code(exc)
    if isinstance(exc, KeyboardInterrupt):
        if debug:
            _print_traceback()
        _say(f"{prog}: interrupted; nothing written")
        return EXIT_INTERRUPTED
    if isinstance(exc, ModuleNotFoundError):
        hint = missing_extra_message(exc)
        if hint is None or debug:
            return _internal_error(prog, debug)
        _say(f"{prog}: error: {hint}")
        return 2
    if isinstance(exc, BrokenPipeError):
        if not _stdout_is_broken():
            # a pipe of our own (a worker, a subprocess) broke: that is a bug, not `| head`
            return _internal_error(prog, debug)
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    return _internal_error(prog, debug)


def entry_point(prog: str) -> Callable[[MainFn], Callable[..., int]]:
    """Decorator form of :func:`run_entry` for a console-script ``main``.

    ``@entry_point("molediff conformers")`` on ``def main(argv: list[str]) -> int | None``
    gives ``main(argv: Sequence[str] | None = None) -> int``, which a console script (or
    ``sys.exit(main())``) can call directly. The undecorated function stays reachable as
    ``main.__wrapped__`` for tests that want exceptions to propagate.
    """

    def decorate(fn: MainFn) -> Callable[..., int]:
        @functools.wraps(fn)
        def wrapper(argv: Sequence[str] | None = None) -> int:
            return run_entry(fn, argv, prog)

        return wrapper

    return decorate


def _exit_code(exc: MolediffError) -> int:
    code = getattr(exc, "exit_code", 2)
    # a subclass that set something odd must not turn an error into success
    return code if isinstance(code, int) and not isinstance(code, bool) and code != 0 else 2


def _internal_error(prog: str, debug: bool) -> int:
    if debug:
        _print_traceback()
        return EXIT_INTERNAL
    exc = sys.exc_info()[1]
    name = type(exc).__name__
    text = one_line(exc)
    if len(text) > _MAX_INTERNAL_MESSAGE:
        text = text[: _MAX_INTERNAL_MESSAGE - 3] + "..."
    what = f"{name}: {text}" if text else name
    _say(f"{prog}: internal error: {what} "
         f"(run with {DEBUG_FLAG} or {DEBUG_ENV}=1 for the traceback)")
    return EXIT_INTERNAL


def _say(line: str) -> None:
    try:
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError):  # stderr closed too: the exit status still tells
        pass


def _print_traceback() -> None:
    try:
        traceback.print_exc(file=sys.stderr)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _stdout_is_broken() -> bool:
    """Whether stdout is a pipe whose reader has gone.

    A BrokenPipeError may come from any pipe. On a POSIX pipe the writing end polls as
    POLLERR once the reader closed, which tells stdout's case apart; where that cannot
    be asked (no real file descriptor, no poll), assume stdout, the common case.
    """
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return True
    try:
        import select

        poller = select.poll()
    except (ImportError, AttributeError):  # Windows has no poll
        return True
    poller.register(fd, select.POLLOUT)
    events = poller.poll(0)
    return any(mask & select.POLLERR for _, mask in events)


def _silence_stdout() -> None:
    """Point stdout's file descriptor at /dev/null, so that the interpreter's flush at
    exit does not raise the same BrokenPipeError again ("Exception ignored ... Broken
    pipe"). Recommended by the Python docs (``signal`` module, "Note on SIGPIPE")."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)
