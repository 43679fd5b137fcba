"""Recipe schema: a declarative YAML task description, validated by pydantic.

A recipe names the task, its labels (each with a one-line description, no examples)
and how to generate. Unknown fields, missing labels and wrong types are errors that
name the field and, for YAML files, the line. Python users build :class:`Recipe`
directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from synthloom.errors import UserInputError
from synthloom.records import sha256_text, stable_json


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BackendConfig(_Strict):
    """Which LLM answers.

    Attributes:
        kind: ``llamacpp`` (embedded model, in-process) or ``openai_http`` (vLLM,
            llama.cpp server, Ollama, OpenAI...).
        model: embedded model name for llamacpp; the server's model id for HTTP.
        base_url: for openai_http, e.g. ``http://127.0.0.1:8080/v1``.
        max_concurrency: for openai_http, requests in flight at once.
        n_ctx: for llamacpp, context window in tokens.
    """

    kind: Literal["llamacpp", "openai_http"] = "llamacpp"
    model: str = "qwen2.5-coder-0.5b"
    base_url: str | None = None
    max_concurrency: int = Field(default=4, ge=1)
    n_ctx: int = Field(default=2048, ge=256)

    @model_validator(mode="after")
    def _url_for_http(self) -> BackendConfig:
        if self.kind == "openai_http" and not self.base_url:
            raise ValueError("base_url is required when kind is openai_http")
        return self


class TargenConfig(_Strict):
    """TarGEN knobs (arXiv 2310.17876).

    Attributes:
        contexts: number of contexts (settings) the model is asked for in step 1, or a
            list of settings to use instead (step 1 is then skipped).
        contexts_per_label: ask for contexts per label ("settings where <label> texts
            happen") rather than once for the task. On BBC News with the embedded model,
            task-wide contexts came back as football clubs and leaked football into every
            label; per-label contexts cannot contradict their label.
        seeds_per_pair: instance seeds asked for per (context, label) pair in step 2.
        label_distribution: ``balanced`` or a mapping label -> weight (normalised).
        self_correction: blind relabelling on or off (step 5).
        self_correction_with_descriptions: show the label descriptions to the blind
            labeller too (longer prompt, slower).
        on_disagreement: ``regenerate`` (TarGEN: regenerate up to ``max_regenerations``
            times, then reject with the reason) or ``keep`` (keep the instance with its
            disagreeing verdict and ``disagreement_trust_weight`` as its trust weight;
            for when the labeller is weaker than the generator).
        disagreement_trust_weight: trust weight of a kept disagreeing instance (0..1).
        max_regenerations: regenerations after a self-correction disagreement
            before the record is rejected.
        max_attempts: tries for an answer that is valid JSON of the right shape.
        max_words: asked length of a generated instance, in words.
        instance_format: ``text`` (plain answer, validated) or ``json`` (grammar-constrained
            ``{"text": ...}``; about 2.4x slower decode on the embedded model).
        max_drafts_factor: stop planning after ``n * max_drafts_factor`` drafts, so a
            label the model never gets right cannot loop forever.
    """

    contexts: int | list[str] = 8
    contexts_per_label: bool = True
    seeds_per_pair: int = Field(default=8, ge=1, le=50)
    label_distribution: Literal["balanced"] | dict[str, float] = "balanced"
    self_correction: bool = True
    self_correction_with_descriptions: bool = False
    on_disagreement: Literal["regenerate", "keep"] = "regenerate"
    disagreement_trust_weight: float = Field(default=0.5, ge=0.0, le=1.0)
    max_regenerations: int = Field(default=2, ge=0, le=10)
    max_attempts: int = Field(default=3, ge=1, le=10)
    max_words: int = Field(default=45, ge=5, le=400)
    instance_format: Literal["text", "json"] = "text"
    max_drafts_factor: float = Field(default=3.0, ge=1.0)

    @field_validator("contexts")
    @classmethod
    def _contexts(cls, v: int | list[str]) -> int | list[str]:
        if isinstance(v, int) and not 1 <= v <= 200:
            raise ValueError("must be between 1 and 200, or a list of settings")
        if isinstance(v, list) and (not v or not all(str(c).strip() for c in v)):
            raise ValueError("a list of contexts needs at least one non-empty setting")
        return v


class SamplingConfig(_Strict):
    """Sampling values for generation (labelling always uses temperature 0)."""

    temperature: float = Field(default=0.9, ge=0.0, le=2.0)
    top_p: float = Field(default=0.95, gt=0.0, le=1.0)


class DedupConfig(_Strict):
    """Streaming near-duplicate rejection during generation (off unless a threshold is set).

    Attributes:
        jaccard: reject a record whose word-3-shingle set has estimated Jaccard similarity at
            or above this with an accepted record's (MinHash LSH), in [0, 1].
        cosine: reject a record whose MiniLM sentence embedding has cosine at or above this
            with an accepted record's, in [0, 1].
        num_perm: MinHash permutations; bands: LSH bands (``num_perm`` divisible by it;
            default: chosen from the threshold, see ``lsh_bands``).
    """

    jaccard: float | None = Field(default=None, ge=0.0, le=1.0)
    cosine: float | None = Field(default=None, ge=0.0, le=1.0)
    num_perm: int = Field(default=128, ge=16, le=1024)
    bands: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _bands_divide(self) -> DedupConfig:
        if self.bands is not None and self.num_perm % self.bands:
            raise ValueError(f"num_perm {self.num_perm} is not divisible by bands {self.bands}")
        return self

    @property
    def enabled(self) -> bool:
        return self.jaccard is not None or self.cosine is not None


class CoverageConfig(_Strict):
    """Coverage and diversity knobs (all off by default).

    Attributes:
        taxonomy: a taxonomy YAML file (see ``synthloom taxonomy``); a relative path is
            relative to the recipe file. Each draft gets a mix, one leaf per factor.
        strategy: ``uniform``, ``weighted`` or ``quota`` sampling over leaves.
        personas: give each draft a sampled writer persona (DiaSynth, arXiv 2409.19020).
        characteristics: context characteristics sampled per draft, from
            ``familiarity, emotional_state, formality, medium, location, agreement,
            speech_features``.
        complexify_fraction: share of instances rewritten harder with an Evol-Instruct
            in-depth operation (arXiv 2304.12244), in [0, 1].
        complexify_operations: which operations (default: all five).
        meta_prompts: phrasings of the generation instruction rotated over drafts (1-3).
    """

    taxonomy: str | None = None
    strategy: Literal["uniform", "weighted", "quota"] = "quota"
    personas: bool = False
    characteristics: list[str] = Field(default_factory=list)
    complexify_fraction: float = Field(default=0.0, ge=0.0, le=1.0)
    complexify_operations: list[str] = Field(default_factory=list)
    meta_prompts: int = Field(default=1, ge=1, le=3)

    @field_validator("characteristics", "complexify_operations")
    @classmethod
    def _known_names(cls, v: list[str], info: ValidationInfo) -> list[str]:
        from synthloom.operators.generate.evol_complexify import OPERATIONS
        from synthloom.operators.plan.personas import CHARACTERISTICS

        known = CHARACTERISTICS if info.field_name == "characteristics" else OPERATIONS
        unknown = sorted(set(v) - set(known))
        if unknown:
            raise ValueError(f"unknown {info.field_name} {unknown}; known: {sorted(known)}")
        return v


class Recipe(_Strict):
    """A classification task description and how to generate data for it.

    Attributes:
        task: task name (letters, digits, ``_``, ``-``).
        description: what the texts are, one or two sentences.
        labels: label -> one-line description; at least two labels.
        n: accepted synthetic records wanted.
        seed: master random seed (plans and sampler seeds derive from it).
        chunk_size: drafts per checkpoint (records are written after each chunk).
        backend: which LLM answers.
        sampling: sampling values for generation.
        targen: TarGEN knobs.
        dedup: streaming near-duplicate rejection (MinHash LSH, embedding cosine).
        coverage: taxonomy mixes, personas, context characteristics, complexification.
    """

    task: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    description: str = Field(min_length=1)
    labels: dict[str, str]
    n: int = Field(default=300, ge=1)
    seed: int = 13
    chunk_size: int = Field(default=10, ge=1)
    backend: BackendConfig = Field(default_factory=BackendConfig)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    targen: TargenConfig = Field(default_factory=TargenConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    coverage: CoverageConfig = Field(default_factory=CoverageConfig)

    @field_validator("labels")
    @classmethod
    def _two_labels(cls, v: dict[str, str]) -> dict[str, str]:
        if len(v) < 2:
            raise ValueError("needs at least two labels, each with a one-line description")
        for name, text in v.items():
            if not str(name).strip() or not str(text).strip():
                raise ValueError(f"label {name!r} needs a name and a description")
        return v

    @model_validator(mode="after")
    def _distribution_labels(self) -> Recipe:
        dist = self.targen.label_distribution
        if isinstance(dist, dict):
            unknown = sorted(set(dist) - set(self.labels))
            if unknown:
                raise ValueError(f"targen.label_distribution names unknown labels {unknown}")
            if any(w < 0 for w in dist.values()) or sum(dist.values()) <= 0:
                raise ValueError("targen.label_distribution weights must be >= 0, sum > 0")
        return self

    def sha256(self) -> str:
        """Hash of the recipe's content (what a resumed run must match).

        Sections added after a recipe format was first used (``dedup``, ``coverage``) are
        left out while they hold their defaults, so a recipe that does not use them keeps
        its hash, and with it its plan ids and sampler seeds: its runs resume and
        reproduce as before.
        """
        data = self.model_dump(mode="json")
        for section, config in (("dedup", DedupConfig()), ("coverage", CoverageConfig())):
            if getattr(self, section) == config:
                del data[section]
        return sha256_text(stable_json(data))

    def label_quotas(self) -> dict[str, int]:
        """Accepted records wanted per label, summing to ``n``."""
        dist = self.targen.label_distribution
        weights = {k: 1.0 for k in self.labels} if dist == "balanced" else dict(dist)
        total = sum(weights.values())
        raw = {k: self.n * weights.get(k, 0.0) / total for k in self.labels}
        quotas = {k: int(v) for k, v in raw.items()}
        rest = self.n - sum(quotas.values())
        for k in sorted(raw, key=lambda k: raw[k] - quotas[k], reverse=True)[:rest]:
            quotas[k] += 1
        return quotas


def _line_of(node: Any, loc: tuple) -> int | None:
    """Line (1-based) of the YAML node at pydantic location ``loc``, as deep as it goes."""
    line = None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            found = None
            for k, v in node.value:
                if k.value == str(key):
                    found = (k, v)
                    break
            if found is None:
                break
            line = found[0].start_mark.line + 1
            node = found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _duplicate_key(node: Any, prefix: str = "") -> tuple[str, int] | None:
    """The first key given twice in one YAML mapping, with the line of its second copy."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for k, v in node.value:
            name = f"{prefix}{k.value}"
            if k.value in seen:
                return name, k.start_mark.line + 1
            seen.add(k.value)
            found = _duplicate_key(v, name + ".")
            if found:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            found = _duplicate_key(v, f"{prefix}{i}.")
            if found:
                return found
    return None


def load_recipe(path: Path | str, **overrides: Any) -> Recipe:
    """Read and validate a YAML recipe; ``overrides`` replace top-level fields (e.g. ``n``).

    Raises:
        UserInputError: missing file, bad YAML, or a schema error; the message names the
            file, the field and its line.
    """
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path}: recipe file not found")
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "context_mark", None) or getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise UserInputError(f"{path}{where}: not valid YAML ({getattr(e, 'problem', e)})") from e
    if not isinstance(data, dict):
        raise UserInputError(f"{path}: a recipe is a YAML mapping of fields")
    duplicate = _duplicate_key(node)
    if duplicate:
        key, line = duplicate
        raise UserInputError(f"{path} line {line}: {key}: given twice")
    for key, value in overrides.items():
        if value is not None:
            data[key] = value
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = tuple(p for p in err["loc"] if not str(p).startswith("function-after"))
        field = ".".join(str(p) for p in loc) or "recipe"
        overridden = bool(loc) and overrides.get(str(loc[0])) is not None
        line = _line_of(node, loc) if node is not None and not overridden else None
        where = f" line {line}" if line else ""
        if overridden:
            where = " (value given on the command line)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        raise UserInputError(f"{path}{where}: {field}: {msg}") from e
    taxonomy = recipe.coverage.taxonomy
    if taxonomy is not None:
        from synthloom.operators.plan.taxonomy import load_taxonomies

        resolved = Path(taxonomy) if Path(taxonomy).is_absolute() else path.parent / taxonomy
        load_taxonomies(resolved)  # a bad tree fails here, naming its node
        coverage = recipe.coverage.model_copy(update={"taxonomy": str(resolved.resolve())})
        recipe = recipe.model_copy(update={"coverage": coverage})
    return recipe


def with_backend(
    recipe: Recipe, *, model: str | None = None, base_url: str | None = None
) -> Recipe:
    """The recipe with its backend's model and/or server replaced (command-line flags).

    A ``base_url`` switches the backend to ``openai_http``.

    Raises:
        UserInputError: the result is not a valid recipe.
    """
    backend = recipe.backend.model_dump()
    if model:
        backend["model"] = model
    if base_url:
        backend.update(kind="openai_http", base_url=base_url)
    try:
        return Recipe.model_validate({**recipe.model_dump(), "backend": backend})
    except ValidationError as e:
        raise UserInputError(f"backend: {e.errors()[0]['msg']}") from e
