"""`python -m bench [NAME ...]`: run benchmarks (default: all), rewrite their sections of docs/benchmarks.md.

Each benchmark is a module with a `TITLE` and a `run() -> str` returning its Markdown body. After
the run the `targets` section is rebuilt from the target lines the benchmarks wrote.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os

from bench.report import write_section, write_targets_summary

BENCHMARKS: dict[str, str] = {
    "models": "bench.models",
    "breakdown": "bench.breakdown",
    "peers": "bench.peers",
    "frontends": "bench.frontends",
    "decoders": "bench.decoders",
    "damaged_intake": "bench.damaged_intake",
    "serve_load": "bench.serve_load",
    "input_pipeline": "bench.input_pipeline",
    "batch": "bench.batch",
    "replicas": "bench.replicas",
    "music_student": "bench.music_student",
    "essentia": "bench.essentia_peer",
    "engines": "bench.engines",
    "startup": "bench.startup",
    "similarity": "bench.similarity",
    "retrieval": "bench.retrieval",
    "index_startup": "bench.index_startup",
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
        load_before = os.getloadavg()[0]
        body = module.run()
        write_section(name, module.TITLE, body, load=(load_before, os.getloadavg()[0]))
    write_targets_summary()


if __name__ == "__main__":
    main()
