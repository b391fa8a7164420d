"""`python -m bench [NAME ...]`: run benchmarks (all by default) and rewrite their sections of docs/benchmarks.md.

Each benchmark is a module with a `TITLE` and a `run() -> str` returning its Markdown body.
"""

from __future__ import annotations

import argparse
import importlib
import logging

from bench.report import write_section

BENCHMARKS: dict[str, str] = {
    "decoders": "bench.decoders",
    "serve_load": "bench.serve_load",
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help="any of: " + ", ".join(BENCHMARKS))
    args = parser.parse_args()
    unknown = sorted(set(args.names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for name in args.names or BENCHMARKS:
        module = importlib.import_module(BENCHMARKS[name])
        logging.info("running %s", name)
        write_section(name, module.TITLE, module.run())


if __name__ == "__main__":
    main()
