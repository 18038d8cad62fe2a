"""The friendly ``molediff`` command: ``molediff <command> [args...]``.

The engine's commands (``train``, ``sample``, ``evaluate``, ``collect-sweep``) live in
:data:`COMMANDS` as ``name -> (target, help)`` where ``target`` is ``"module:function"``;
the function takes the remaining arguments (``fn(argv: list[str]) -> int | None``).
Hydra-based commands get them as their command line.

A modality brings its own commands (``molediff conformers``, ``molediff design``, ...)
without editing this package: its ``domains/<name>/command.py`` exposes
``main(argv) -> int`` and its package declares an entry point in the
``molediff.commands`` group (``conformers = "molediff.domains.conformers.command:main"``
in ``pyproject.toml``); ``molediff --help`` lists it with the first line of the module's
docstring. :func:`register` adds one at run time.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from pathlib import Path

from molediff.utils.errors import UsageError

COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("molediff.cli.main:_train", "train a model (Hydra overrides, conf/train.yaml)"),
    "sample": ("molediff.cli.main:_sample", "sample from a checkpoint (conf/sample.yaml)"),
    "evaluate": ("molediff.cli.main:_evaluate", "evaluate a checkpoint (conf/evaluate.yaml)"),
    "collect-sweep": ("molediff.cli.collect_sweep:main", "tabulate a multirun directory"),
}


def register(name: str, target: str, help: str = "") -> None:
    """Add a subcommand ``name`` that calls ``target`` (``"module:function"``)."""
    COMMANDS[name] = (target, help)


def _load(target: str) -> Callable[[list[str]], int | None]:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def _hydra_passthrough(module_name: str, argv: list[str]) -> int | None:
    # Hydra reads sys.argv. Lightning's DDP launcher starts ranks > 0 by re-running this
    # process's command (`python -m <__main__.__spec__.name>` or `python sys.argv[0]`), so
    # make it look like `python -m molediff.cli.<command> <args>`.
    created: Path | None = None
    for arg in argv:  # Hydra creates the run directory before our task can check anything
        if arg.startswith("hydra.run.dir=") and "-m" not in argv and "--multirun" not in argv:
            from molediff.utils.io import check_output_dir

            run_dir = Path(arg.partition("=")[2].strip("'\""))
            existed = run_dir.exists()
            check_output_dir(run_dir)
            created = None if existed else run_dir
    module = importlib.import_module(module_name)
    sys.argv = [module.__file__, *argv]
    main_module = sys.modules.get("__main__")
    if main_module is not None:
        main_module.__spec__ = module.__spec__
    try:
        module.main()
    except BaseException:
        # Hydra's own errors (a typo in an override) exit before our task can clean up
        from molediff.cli._hydra import _only_hydra_files

        if created is not None and created.is_dir() and (
                not any(created.iterdir()) or _only_hydra_files(created)):
            shutil.rmtree(created, ignore_errors=True)
        raise
    return 0


def _train(argv: list[str]) -> int | None:
    return _hydra_passthrough("molediff.cli.train", argv)


def _sample(argv: list[str]) -> int | None:
    return _hydra_passthrough("molediff.cli.sample", argv)


def _evaluate(argv: list[str]) -> int | None:
    return _hydra_passthrough("molediff.cli.evaluate", argv)


def _plugin_commands() -> None:
    try:
        eps = entry_points(group="molediff.commands")
    except Exception:  # noqa: BLE001 - broken metadata must not break the CLI
        return
    for ep in eps:
        COMMANDS.setdefault(ep.name, (ep.value, ""))


def _help_of(target: str, given: str) -> str:
    """A command's help: given, or the first line of its module's docstring (modules of
    commands keep heavy imports inside ``main``, so this is cheap)."""
    if given:
        return given
    try:
        doc = importlib.import_module(target.partition(":")[0]).__doc__ or ""
    except ModuleNotFoundError as exc:
        return f"(not installed: needs {exc.name})"
    except Exception:  # noqa: BLE001 - a broken plugin must not break --help
        return f"(cannot import {target})"
    first = doc.strip().splitlines()[0] if doc.strip() else target
    # "``molediff conformers``: 3D conformers ..." -> "3D conformers ..."
    return first.split(":", 1)[1].strip() if first.startswith("``") and ":" in first else first


def build_parser(with_help: bool = False) -> argparse.ArgumentParser:
    listing = "\n".join(f"  {n:<16}{_help_of(t, h) if with_help else h}"
                        for n, (t, h) in sorted(COMMANDS.items()))
    parser = argparse.ArgumentParser(
        prog="molediff",
        description="Diffusion models for science. `molediff <command> --help` for details.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands:\n" + listing + "\n\nAdd --debug (or MOLEDIFF_DEBUG=1) for tracebacks.\n",
    )
    parser.add_argument("command", choices=sorted(COMMANDS), metavar="command")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments of the command")
    return parser


def _dispatch(argv: list[str]) -> int:
    _plugin_commands()
    if not argv or argv[0] in ("-h", "--help"):
        build_parser(with_help=True).print_help()
        return 0 if argv else 2
    ns = build_parser().parse_args(argv[:1])
    try:
        result = _load(COMMANDS[ns.command][0])(argv[1:])
    except ModuleNotFoundError as exc:
        from molediff.utils.entry import missing_extra_message

        hint = missing_extra_message(exc)
        if hint is None:
            raise
        # a modality's libraries are an extra (pyproject.toml): say which one is missing
        raise UsageError(f"`molediff {ns.command}`: {hint}") from None
    return int(result or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch ``molediff <command> ...``; returns the exit status. Errors the user can
    fix are one line on stderr (exit 1 bad data, 2 bad usage), Ctrl-C exits 130."""
    from molediff.utils.entry import DEBUG_ENV, run_entry, strip_debug_flag

    args, debug = strip_debug_flag(sys.argv[1:] if argv is None else argv)
    if debug:  # the Hydra commands' own handler reads it from the environment
        os.environ[DEBUG_ENV] = "1"
    return run_entry(_dispatch, args, "molediff")


if __name__ == "__main__":
    sys.exit(main())
