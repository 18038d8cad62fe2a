"""The friendly ``molediff`` command: ``molediff <command> [args...]``.

Commands live in :data:`COMMANDS` as ``name -> (target, help)`` where ``target`` is
``"module:function"``; the function takes the remaining arguments
(``fn(argv: list[str]) -> int | None``). Hydra-based commands (``train``, ``sample``,
``evaluate``) get them as their command line. To add a command, add one line to
:data:`COMMANDS`, or call :func:`register` from a plugin module, or expose an entry
point in the ``molediff.commands`` group (``name = "pkg.module:function"``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points

COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("molediff.cli.main:_train", "train a model (Hydra overrides, conf/train.yaml)"),
    "sample": ("molediff.cli.main:_sample", "sample from a checkpoint (conf/sample.yaml)"),
    "evaluate": ("molediff.cli.main:_evaluate", "evaluate a checkpoint (conf/evaluate.yaml)"),
    "collect-sweep": ("molediff.cli.collect_sweep:main", "tabulate a multirun directory"),
    "conformers": ("molediff.cli.conformers:main", "3D conformers of molecules -> SDF"),
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
    module = importlib.import_module(module_name)
    sys.argv = [module.__file__, *argv]
    main_module = sys.modules.get("__main__")
    if main_module is not None:
        main_module.__spec__ = module.__spec__
    module.main()
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
        COMMANDS.setdefault(ep.name, (ep.value, f"(plugin {ep.value})"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="molediff",
        description="Diffusion models for science. `molediff <command> --help` for details.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands:\n" + "\n".join(f"  {n:<16}{h}" for n, (_, h) in sorted(COMMANDS.items())),
    )
    parser.add_argument("command", choices=sorted(COMMANDS), metavar="command")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments of the command")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch ``molediff <command> ...``; returns the exit status."""
    _plugin_commands()
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    ns = parser.parse_args(argv[:1])
    rest = argv[1:]
    result = _load(COMMANDS[ns.command][0])(rest)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
