"""Recipe schema: a declarative YAML task description, validated by pydantic.

A recipe names the task (a discriminated union on ``kind``: for ``classification``, labels
with one-line descriptions and no examples), the generation steps (a discriminated union on
``type``, or the TarGEN preset that expands to them) and the backend. Unknown fields, kinds
and step types, missing labels, wrong types, a step reading what nothing earlier wrote, and
a template with an unknown field are errors that name the field and, for YAML files, the
line. Python users build :class:`Recipe` directly.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from synthloom.datasets import REAL_SOURCES
from synthloom.errors import UserInputError
from synthloom.operators.base import check_template_overrides
from synthloom.pipeline.fingerprint import fingerprint
from synthloom.pipeline.presets import (
    CoverageConfig,
    DedupConfig,
    SeedDataConfig,
    TargenConfig,
    expand,
)
from synthloom.pipeline.recipe_yaml import line_of, read_recipe_yaml
from synthloom.pipeline.steps import STEP_TYPES, AnyStep, StepConfig, check_flow
from synthloom.tasks import TASK_KINDS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


MAX_DESCRIPTION_WORDS = 1_000
"""Words a task description may have (it goes into every prompt; about 1,300 tokens, in a
context window of 2,048 tokens by default)."""
MAX_DESCRIPTION_CHARS = 8_000
"""Characters a task description may have (catches text with few spaces)."""
MAX_LABEL_WORDS = 100
"""Words one label's description may have (a one-line description; the labeller's prompt
shows every label's)."""
MAX_LABEL_CHARS = 1_000
"""Characters one label's description may have."""

class BackendConfig(_Strict):
    """Which LLM answers.

    Attributes:
        kind: ``llamacpp`` (embedded model, in-process) or ``openai_http`` (vLLM,
            llama.cpp server, Ollama, OpenAI...).
        model: embedded model name for llamacpp; the server's model id for HTTP.
        base_url: for openai_http, e.g. ``http://127.0.0.1:8080/v1``; an ``http://`` or
            ``https://`` URL with a host.
        max_concurrency: for openai_http, requests in flight at once.
        n_ctx: for llamacpp, context window of each sequence, in tokens.
        parallel: for llamacpp, sequences decoded together in one batch (continuous
            batching, shared prompt prefixes; :mod:`synthloom.llm.batched`); 1 answers
            one request at a time. Sampled answers at ``parallel > 1`` differ from those
            at 1 (each batch's numerics differ) but are the same for the same value.
        n_threads: for llamacpp, CPU threads; None uses every core this process may
            run on (``os.sched_getaffinity``).
        timeout_seconds: for openai_http, how long one attempt may take before it is
            retried (seconds).
        max_retries: for openai_http, retries of a failed request after its first attempt
            (429, 5xx, dropped or cut-off answers, timeouts), with exponential backoff;
            every retry is counted in the manifest's ``llm_retries``.

    Counts are strict integers: ``true`` is not 1.
    """

    kind: Literal["llamacpp", "openai_http"] = "llamacpp"
    model: str = "qwen2.5-coder-0.5b"
    base_url: str | None = None
    max_concurrency: int = Field(default=4, ge=1, strict=True)
    n_ctx: int = Field(default=2048, ge=256, strict=True)
    parallel: int = Field(default=8, ge=1, le=64, strict=True)
    n_threads: int | None = Field(default=None, ge=1, strict=True)
    timeout_seconds: float = Field(default=120.0, gt=0, le=3600)
    max_retries: int = Field(default=5, ge=0, le=50, strict=True)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            parts = urlsplit(v)
            parts.port  # noqa: B018  (raises ValueError on a bad port)
        except ValueError as e:
            raise ValueError(f"{v!r} is not a URL ({e})") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{v!r} is not an http:// or https:// URL with a host "
                             "(e.g. http://127.0.0.1:8080/v1)")
        return v

    @model_validator(mode="after")
    def _url_for_http(self) -> BackendConfig:
        if self.kind == "openai_http" and not self.base_url:
            raise ValueError("base_url is required when kind is openai_http")
        return self


class SamplingConfig(_Strict):
    """Sampling values for generation (labelling always uses temperature 0)."""

    temperature: float = Field(default=0.9, ge=0.0, le=2.0)
    top_p: float = Field(default=0.95, gt=0.0, le=1.0)


#: the discriminated union of every registered task kind, on ``kind``
AnyTask = Annotated[Union[tuple(TASK_KINDS.values())], Field(discriminator="kind")]  # noqa: UP007

_LEGACY_TASK_FIELDS = ("kind", "description", "labels", "unit")


class Recipe(_Strict):
    """A task and how to generate data for it.

    Attributes:
        task: the task, a discriminated union on ``kind`` (see :mod:`synthloom.tasks`).
            The older flat spelling (``task: NAME`` with ``description``, ``labels`` and
            optionally ``unit`` and ``kind`` at the top level) is read as the same thing.
            Its description has at most :data:`MAX_DESCRIPTION_WORDS` (1,000) words and
            :data:`MAX_DESCRIPTION_CHARS` (8,000) characters, each label's description at
            most :data:`MAX_LABEL_WORDS` (100) words and :data:`MAX_LABEL_CHARS` (1,000)
            characters: they go into prompts, and a longer text would overflow the model's
            context (2,048 tokens by default) only once generation has started. Labels
            have no surrounding spaces, and no two differ only in case or spaces.
        n: accepted synthetic records wanted.
        seed: master random seed (plans and sampler seeds derive from it).
        chunk_size: drafts per checkpoint (records are written after each chunk); None
            (the default) picks 10, or the backend's preferred batch when larger (4 x
            ``parallel`` for batched llama.cpp decoding, which needs many requests at
            once to keep its sequences busy).
        backend: which LLM answers.
        judge: which LLM the judge steps ask (pointwise judge, double critic, pairwise
            preferences, debate); None (the default) asks ``backend``. A judge that is the
            generator's own model is reported as such.
        sampling: sampling values for generation.
        steps: the generation steps in engine order (see
            :mod:`synthloom.pipeline.steps.base`); when absent, the TarGEN preset
            (``targen``, ``coverage``, ``dedup``) expands to them.
        templates: prompt template overrides, ``{"<operator>.<key>": text}``, e.g.
            ``targen.instance_generation.user``; a template may use only the fields the
            operator fills. Their sha256 is in every record's operator trail.
        targen, coverage, dedup, seed_data: the preset sections (read once, then None: the
            recipe holds the steps they expand to). ``seed_data`` anchors generation in
            the user's real examples (see :class:`SeedDataConfig`).

    Counts (``n``, ``seed``, ``chunk_size`` and those of the backend, sections and steps)
    are strict integers: ``true`` is not 1.

    Raises:
        pydantic.ValidationError: on any invalid field (``load_recipe`` turns it into a
            one-line :class:`UserInputError` with the YAML line).
    """

    task: AnyTask
    n: int = Field(default=300, ge=1, strict=True)
    seed: int = Field(default=13, strict=True)
    chunk_size: int | None = Field(default=None, ge=1, strict=True)
    backend: BackendConfig = Field(default_factory=BackendConfig)
    judge: BackendConfig | None = None
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    steps: list[AnyStep] = Field(default_factory=list)
    templates: dict[str, str] = Field(default_factory=dict)
    targen: TargenConfig | None = None
    coverage: CoverageConfig | None = None
    dedup: DedupConfig | None = None
    seed_data: SeedDataConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _flat_task(cls, data: Any) -> Any:
        """Read ``task: NAME`` + top-level description/labels/unit/kind as a task section."""
        if isinstance(data, dict) and isinstance(data.get("task"), str):
            data = dict(data)
            moved = {k: data.pop(k) for k in _LEGACY_TASK_FIELDS if k in data}
            data["task"] = {"name": data["task"], **moved}
        if isinstance(data, dict) and isinstance(data.get("task"), dict):
            data["task"] = {"kind": "classification", **data["task"]}
        return data

    @field_validator("task")
    @classmethod
    def _task_texts(cls, task: Any) -> Any:
        """Description and label descriptions short enough for a prompt; labels distinct."""
        _check_length("description", "description", task.description,
                      MAX_DESCRIPTION_WORDS, MAX_DESCRIPTION_CHARS)
        labels = getattr(task, "labels", None)
        if isinstance(labels, dict):
            _check_labels(labels)
        return task

    @field_validator("templates")
    @classmethod
    def _templates(cls, v: dict[str, str]) -> dict[str, str]:
        operators = {op.name: op for step in STEP_TYPES.values() for op in step.operators}
        for key, text in v.items():
            name, _, template = key.rpartition(".")
            if name not in operators:
                raise ValueError(f"{key}: unknown operator {name!r}; known: {sorted(operators)}")
            try:
                check_template_overrides(operators[name], {template: text})
            except UserInputError as e:
                raise ValueError(str(e).removeprefix("templates: ")) from None
        return v

    @model_validator(mode="after")
    def _expand_and_check(self) -> Recipe:
        preset = [s for s in ("targen", "coverage", "dedup", "seed_data")
                  if getattr(self, s) is not None]
        if self.steps and preset:
            raise ValueError(f"give either steps or the preset sections ({', '.join(preset)}), "
                             "not both")
        if not self.steps and self.task.kind != "classification":
            raise ValueError(f"task kind {self.task.kind!r} has no preset: give its steps "
                             "(see recipes/ for an example)")
        if not self.steps:
            self.steps = expand(self.targen or TargenConfig(), self.coverage or CoverageConfig(),
                                self.dedup or DedupConfig(), unit_given=bool(self.task.unit),
                                seed_data=self.seed_data)
            self.targen = self.coverage = self.dedup = self.seed_data = None
        check_flow(self.task.kind, self.task.known_fields(), self.steps)
        labels = getattr(self.task, "labels", None)
        for i, step in enumerate(self.steps):
            try:
                step.check_task(self.task)
            except ValueError as e:
                raise ValueError(f"steps.{i} ({step.type}): {e}") from None
            dist = getattr(step, "distribution", None)
            if labels is not None and isinstance(dist, dict):
                unknown = sorted(set(dist) - set(labels))
                if unknown:
                    raise ValueError(f"steps.{i} ({step.type}): distribution names unknown "
                                     f"labels {unknown}")
        return self

    # ------------------------------------------------------------ conveniences
    @property
    def name(self) -> str:
        """The task's name."""
        return self.task.name

    @property
    def description(self) -> str:
        """The task's description."""
        return self.task.description

    @property
    def labels(self) -> dict[str, str]:
        """The task's labels (``{}`` for a kind without labels)."""
        return dict(getattr(self.task, "labels", {}) or {})

    def steps_of(self, role: str) -> list[StepConfig]:
        """The steps with ``role``, in order."""
        return [s for s in self.steps if s.role == role]

    def sha256(self) -> str:
        """The recipe fingerprint (see :mod:`synthloom.pipeline.fingerprint`)."""
        return fingerprint(self)

    def quotas(self) -> dict[str, int]:
        """Accepted records wanted per stratum (per label for classification), summing to n."""
        (draft,) = self.steps_of("draft")
        return draft.quotas(self.task.strata(), self.n)

    label_quotas = quotas


def _check_length(field: str, what: str, text: str, max_words: int, max_chars: int) -> None:
    """Refuse ``text`` over ``max_words`` words or ``max_chars`` characters.

    Raises:
        ValueError: ``"<field>: <what> has N words; at most M"`` (or characters).
    """
    words, chars = len(text.split()), len(text)
    if words > max_words:
        raise ValueError(f"{field}: {what} has {words:,} words; at most {max_words:,} (it goes "
                         "into prompts, and must fit the model's context)")
    if chars > max_chars:
        raise ValueError(f"{field}: {what} has {chars:,} characters; at most {max_chars:,} (it "
                         "goes into prompts, and must fit the model's context)")


def _check_labels(labels: dict[str, str]) -> None:
    """Refuse labels that differ only in case or surrounding spaces, labels with spaces
    around them, and label descriptions too long for a prompt.

    Raises:
        ValueError: ``"labels: ..."`` naming the labels.
    """
    same: dict[str, list[str]] = {}
    for name in labels:
        same.setdefault(str(name).strip().casefold(), []).append(name)
    clashes = [names for names in same.values() if len(names) > 1]
    if clashes:
        shown = "; ".join(", ".join(repr(n) for n in names) for names in clashes)
        raise ValueError(f"labels: {shown} differ only in case or surrounding spaces; "
                         "give each label once")
    for name, text in labels.items():
        if name != name.strip():
            raise ValueError(f"labels: label {name!r} has spaces around it; write "
                             f"{name.strip()!r}")
        _check_length("labels", f"the description of label {name!r}", str(text),
                      MAX_LABEL_WORDS, MAX_LABEL_CHARS)


def load_recipe(path: Path | str, **overrides: Any) -> Recipe:
    """Read and validate a YAML recipe; ``overrides`` replace top-level fields (e.g. ``n``).

    Raises:
        UserInputError: anything :func:`~synthloom.pipeline.recipe_yaml.read_recipe_yaml`
            refuses (not UTF-8, bad YAML, aliases that expand too far, a key given twice...),
            or a schema error; the message names the file, the field and its line.
    """
    path = Path(path)
    node, data = read_recipe_yaml(path)
    for key, value in overrides.items():
        if value is not None:
            data[key] = value
    _resolve_paths(data, path.parent)
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as e:
        loc, msg = _explain(e.errors()[0], flat=isinstance(data.get("task"), str), data=data)
        field = ".".join(str(p) if str(p).isprintable() else repr(str(p))
                         for p in loc) or "recipe"
        overridden = bool(loc) and overrides.get(str(loc[0])) is not None
        line = line_of(node, loc) if node is not None and not overridden else None
        where = f" line {line}" if line else ""
        if overridden:
            where = " (value given on the command line)"
        prefix = "" if not loc or msg.startswith(field + " ") else f" {field}:"
        raise UserInputError(f"{path}{where}:{prefix} {msg}") from e
    from synthloom.operators.plan.taxonomy import load_taxonomies

    for step in recipe.steps:
        if getattr(step, "taxonomy", None):
            try:
                load_taxonomies(step.taxonomy)  # a bad tree fails here, naming its node
            except UserInputError:
                raise
            except (OSError, ValueError) as e:  # a folder, not UTF-8, a bad path...
                raise UserInputError(f"{path}: taxonomy {step.taxonomy}: cannot read it "
                                     f"({type(e).__name__}: {e})") from e
    return recipe


#: step types whose ``file`` is a path relative to the recipe file
_FILE_STEPS = frozenset({"preference.prompts", "instruction.seed_pool", "personas.pool",
                         "dialogue.write", "teacher_label.source", "relevance.corpus"})


def _resolve_paths(data: dict[str, Any], folder: Path) -> None:
    """Make relative file paths relative to ``folder``: taxonomy files (coverage section or
    steps), seed data files (seed_data section or steps; a named real source stays) and
    and the ``file`` of the steps in :data:`_FILE_STEPS` (prompts, seed tasks, personas),
    and a ``tools.sample`` step's tool folder or OpenAPI file."""
    steps = data.get("steps")
    holders = [data.get("coverage"), data.get("seed_data")] + (
        steps if isinstance(steps, list) else [])  # a wrong type is the schema's error
    for holder in holders:
        if not isinstance(holder, dict):
            continue
        if isinstance(holder.get("taxonomy"), str) and "\0" not in holder["taxonomy"]:
            t = Path(holder["taxonomy"])
            holder["taxonomy"] = str((t if t.is_absolute() else folder / t).resolve())
        prompts, kind = holder.get("file"), holder.get("type")
        if (isinstance(kind, str) and kind in _FILE_STEPS and isinstance(prompts, str)
                and "\0" not in prompts and not Path(prompts).is_absolute()):
            holder["file"] = str((folder / prompts).resolve())
        tools = holder.get("tools")
        if (holder.get("type") == "tools.sample" and isinstance(tools, str)
                and tools != "builtin" and "\0" not in tools and not Path(tools).is_absolute()):
            holder["tools"] = str((folder / tools).resolve())
        is_seed_data = holder is data.get("seed_data") or holder.get("type") == "seed_data.sample"
        path = holder.get("path")
        if (is_seed_data and isinstance(path, str) and path not in REAL_SOURCES
                and "\0" not in path):
            if not Path(path).is_absolute():
                holder["path"] = str((folder / path).resolve())


def _explain(err: dict[str, Any], *, flat: bool, data: dict[str, Any]) -> tuple[tuple, str]:
    """A pydantic error as (location in the YAML, one-line message)."""
    raw = [p for p in err["loc"] if not str(p).startswith("function-")]
    loc: list[Any] = []
    for p in raw:  # drop discriminator tags pydantic puts in the path
        if loc[-1:] == ["task"] and p in TASK_KINDS:
            continue
        if len(loc) >= 2 and loc[-2] == "steps" and isinstance(loc[-1], int) and p in STEP_TYPES:
            continue
        loc.append(p)
    msg = err["msg"].removeprefix("Value error, ")
    kind = err["type"]
    if kind == "extra_forbidden":
        msg = "unknown field"
    elif kind == "int_type" and isinstance(err.get("input"), bool):
        msg = f"must be a whole number, not {str(err['input']).lower()}"
    elif kind in ("union_tag_invalid", "union_tag_not_found"):
        tag_name = str(err.get("ctx", {}).get("discriminator", "")).strip("'")
        if kind == "union_tag_invalid":
            msg = (f"unknown {tag_name} {err['ctx']['tag']!r}; known: "
                   f"{err['ctx']['expected_tags']}")
        else:
            msg = f"needs a {tag_name}"
        loc.append(tag_name)
        if flat and loc == ["task", "kind"]:
            loc = ["kind"]
    if loc == ["task"] and ": " in msg:  # the task's validator names its field
        name, rest = msg.split(": ", 1)
        if name in ("description", "labels"):
            loc, msg = ["task", name], rest
    if flat and loc[:1] == ["task"] and len(loc) > 1 and loc[1] in _LEGACY_TASK_FIELDS:
        loc = loc[1:]
    if loc == ["templates"] and ": " in msg:  # the validator names the template's key
        key, rest = msg.split(": ", 1)
        if key in (data.get("templates") or {}):
            loc, msg = ["templates", key], rest
    if not loc:
        step = re.match(r"steps\.(\d+) ", msg)
        if step:  # a step-flow error names its step: point at that step's line
            return ("steps", int(step.group(1))), msg
    return tuple(loc), msg


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
        msg = e.errors()[0]["msg"].removeprefix("Value error, ")
        raise UserInputError(f"backend: {msg}") from e
