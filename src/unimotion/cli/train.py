"""``unimotion train KIND --config FILE [--set key=value ...] [--resume]``.

Each module in :mod:`unimotion.training.recipes` is one KIND. A recipe module defines ``HELP`` (one line),
``CONFIG_CLASS`` (a dataclass), ``run(config, args)`` and optionally ``add_arguments(parser)`` and
``check_export(config, args)`` (refuse an existing ``export_dir`` before training when this run will export;
default: whenever ``export_dir`` is set); its top-level imports stay light (heavy ones go inside ``run``).
An existing ``export_dir`` is only replaced with ``--overwrite``.

Under ``torchrun --nproc_per_node N -m unimotion.cli train KIND ...`` every process runs the recipe; the
process group is joined before the recipe and left after it (docs/training.md).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil

from . import add_group, requested


def register(subparsers) -> None:
    group = add_group(subparsers, "train", "train a model from a YAML recipe (configs/...)")
    if not requested("train"):  # the recipes import torch: only for `unimotion train ...`
        return
    from ..training import recipes

    for info in sorted(pkgutil.iter_modules(recipes.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{recipes.__name__}.{info.name}")
        p = group.add_parser(
            info.name.replace("_", "-"),
            help=module.HELP,
            description=module.HELP,
            formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        )
        p.add_argument("--config", help="YAML recipe; defaults of the config dataclass when omitted")
        p.add_argument(
            "--set",
            dest="overrides",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a config value, e.g. --set optim.lr=1e-4 (repeatable)",
        )
        p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
        p.add_argument("--overwrite", action="store_true",
                       help="replace an existing export_dir (without it the run stops before training)")
        if hasattr(module, "add_arguments"):
            module.add_arguments(p)
        p.set_defaults(func=_make_runner(module))


def _make_runner(module):
    def run(args: argparse.Namespace) -> int:
        import yaml

        from ..config import load_config, to_dict
        from ..training.recipes._export import check_export_dir

        config = load_config(module.CONFIG_CLASS, args.config, args.overrides)
        if args.print_config:
            print(yaml.safe_dump(to_dict(config), sort_keys=False))
            return 0
        # before any training: a recipe that exports only sometimes says when (check_export), else export_dir
        if hasattr(module, "check_export"):
            module.check_export(config, args)
        else:
            check_export_dir(getattr(config, "export_dir", None), args)
        from ..training import distributed

        # under torchrun: join the process group before the recipe (it may share work between processes)
        trainer = getattr(config, "trainer", None)
        distributed.init_distributed(distributed.resolve_device(getattr(trainer, "device", "auto")))
        if not distributed.is_main_process():  # rank 0 speaks for the run; the others report problems only
            import logging

            logging.getLogger("unimotion").setLevel(max(logging.WARNING, logging.getLogger("unimotion").level))
        result = int(module.run(config, args) or 0)
        distributed.cleanup()  # not after an error: a barrier would wait for processes that have failed
        return result

    return run
