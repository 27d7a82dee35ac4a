"""Load a sandbox folder: tools, seed state and the policy text given to the agent.

Layout of ``sandboxes/NAME/`` (the full guide: ``docs/sandboxes.md``)::

    tools.py        functions decorated with @tool (required); may import sibling
                    modules (``from .helpers import x``, or ``import helpers`` at the top)
    seed/           one JSON or YAML file per collection (``orders.json`` -> ``orders``)
    policy.md       optional text appended to the agent's system prompt
    http_mocks.py   optional HTTP APIs for python agents (``agentbox.http.http_mock``)
    sandbox.toml    optional: ``seed = "path"`` (a folder or one JSON file, relative to
                    the sandbox; ``~`` and ``$VARS`` expanded), ``seed_env = "VAR"`` (an
                    environment variable that overrides ``seed``), ``collections``
                    (which files of the seed folder are collections: a list of stems,
                    or a table ``{collection = "file name"}`` such as
                    ``users = "users.2024-11.json"``), ``seed_hint`` (what to tell the user
                    when the seed is missing), ``policy = "file.md"``

tools.py may also define ``state_fingerprint(state) -> str`` (the digest the
``state_hash`` expectation compares; the hook's old name ``state_hash`` still works and
warns) and ``task_scenario(data: dict, task: int) -> dict`` (``--task N``: turn one task
of a task set into scenario data).

A collection file holds either an object ``{key: record}`` or a list of records with an
``id`` field (keyed by it). A state snapshot for ``--state`` / shadow mode is either such
a folder or one JSON/YAML file ``{collection: {key: record}}``.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import importlib.util
import json
import os
import sys
import tomllib
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agentbox.errors import SandboxError, ToolError
from agentbox.sandbox.clash import check_tool_names
from agentbox.sandbox.state import State, reading_only
from agentbox.sandbox.tools import ToolSpec

_SEED_SUFFIXES = (".json", ".yaml", ".yml")


@dataclass
class Sandbox:
    """A loaded sandbox.

    Attributes:
        name: folder name.
        path: the folder.
        tools: tool specs by name, in definition order.
        seed: the seed state ``{collection: {key: record}}`` (shared, read-only; read
            from its files on first use, so a malformed seed raises SandboxError then).
        policy_text: text appended to the agent's system prompt ("" when none).
        seed_source: where the seed came from (shown in errors and summaries).
        config: the parsed sandbox.toml.
        state_hasher: ``state_fingerprint(state) -> str`` from tools.py, if defined
            (the digest the ``state_hash`` expectation compares).
        task_scenario: ``task_scenario(data, task) -> data`` from tools.py, if defined.
    """

    name: str
    path: Path
    tools: dict[str, ToolSpec]
    seed: dict[str, dict[str, Any]]
    policy_text: str = ""
    seed_source: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    state_hasher: Callable[[State], str] | None = None
    task_scenario: Callable[[dict[str, Any], int], dict[str, Any]] | None = None

    @classmethod
    def load(cls, path: str | Path, *, data: str | Path | None = None) -> Sandbox:
        """Load a sandbox folder (cached per process; the seed is shared and read-only).

        Args:
            path: the folder holding ``tools.py`` (e.g. ``sandboxes/retail``).
            data: a folder or file replacing the configured seed (``--data``).

        Raises:
            SandboxError: missing folder or tools.py, malformed seed or sandbox.toml, a
                tools.py that does not import.
        """
        box = load_sandbox(Path(path), seed_override=Path(data) if data is not None else None)
        _ = box.seed  # read (and checked) now: the errors belong to loading
        return box

    def state(self) -> State:
        """A fresh run state over the seed (copy-on-write: the seed is never changed)."""
        return State(self.seed)

    def call(self, tool: str, state: State, /, **args: Any) -> Any:
        """Call a tool as a run would: arguments validated by its policy, then executed.

        For testing a sandbox's tools without a run (no policy, no trace).

        Returns:
            The tool's result (JSON-like).

        Raises:
            KeyError: no tool of that name.
            ToolError: the arguments are invalid (the messages joined), or the tool
                raised it.
        """
        spec = self.tools[tool]
        checked, errors = spec.validate(args)
        if checked is None:
            raise ToolError(f"invalid arguments for {tool}: {'; '.join(errors)}")
        return spec.fn(state, **checked)


def _get_seed(self: Sandbox) -> dict[str, dict[str, Any]]:
    loader = self.__dict__.pop("_seed_loader", None)
    if loader is not None:  # first use: read the seed files now
        self.__dict__["_seed"] = loader()
    seed: dict[str, dict[str, Any]] = self.__dict__["_seed"]
    return seed


def _set_seed(self: Sandbox, value: dict[str, dict[str, Any]]) -> None:
    self.__dict__.pop("_seed_loader", None)
    self.__dict__["_seed"] = value


# The seed is read on first use: a replay or fork runs on the seed its store recorded,
# and a 5 MB seed takes ~0.3 s to parse that such a process does not need.
Sandbox.seed = property(_get_seed, _set_seed)  # type: ignore[assignment]


def _lazy_seed(box: Sandbox, loader: Callable[[], dict[str, dict[str, Any]]]) -> Sandbox:
    """``box`` with its seed read by ``loader`` when first used (errors surface then)."""
    box.__dict__["_seed_loader"] = loader
    return box


def _load_structured(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise SandboxError(f"{path}: cannot read: {exc}") from exc


def _as_collection(path: Path, data: Any) -> dict[str, Any]:
    if isinstance(data, dict):
        return data
    if isinstance(data, list):
        out: dict[str, Any] = {}
        for i, record in enumerate(data):
            if not isinstance(record, dict) or "id" not in record:
                raise SandboxError(
                    f"{path}: item {i} has no `id`",
                    "a collection file is an object {key: record} or a list of records with `id`",
                )
            out[str(record["id"])] = record
        return out
    raise SandboxError(
        f"{path}: a collection must be an object or a list, got {type(data).__name__}"
    )


CollectionFiles = list[str] | Mapping[str, str]
"""Which files of a seed folder are collections: stems (``["orders", "users"]``) or
``{collection: file name}`` (``{"users": "users.2024-11.json"}``)."""


def _collection_files(path: Path, collections: CollectionFiles | None) -> dict[str, Path]:
    """``{collection: file}`` of a seed folder (every JSON/YAML file by stem when None)."""
    files = sorted(p for p in path.iterdir() if p.suffix in _SEED_SUFFIXES)
    if collections is None:
        return {p.stem: p for p in files}
    if isinstance(collections, Mapping):
        picked = {str(c): path / str(f) for c, f in collections.items()}
        missing = [f"{c} ({f.name})" for c, f in picked.items() if not f.is_file()]
    else:
        by_stem = {p.stem: p for p in files}
        picked = {c: by_stem[c] for c in collections if c in by_stem}
        missing = [c for c in collections if c not in by_stem]
    if missing:
        raise SandboxError(
            f"{path}: no file for collection(s) {', '.join(missing)}",
            "fix `collections` in sandbox.toml (a list of file stems, or a table "
            '{collection = "file name"})',
        )
    return picked


def load_state_source(
    path: Path, collections: CollectionFiles | None = None
) -> dict[str, dict[str, Any]]:
    """Load a state snapshot: a folder of collection files or one file of collections.

    ``collections`` limits a folder to those files, in that order: a list of file stems,
    or a mapping ``{collection: file name}`` (``{"users": "users.2024-11.json"}``).

    Raises:
        SandboxError: the path is missing, a named file is absent or a file is malformed.
    """
    if path.is_dir():
        files = _collection_files(path, collections)
        return {name: _as_collection(p, _load_structured(p)) for name, p in files.items()}
    if path.is_file():
        data = _load_structured(path)
        if not isinstance(data, dict):
            raise SandboxError(f"{path}: a state file must be an object {{collection: ...}}")
        return {str(k): _as_collection(path, v) for k, v in data.items()}
    raise SandboxError(f"state source not found: {path}", "pass an existing file or folder")


_KNOWN_HASHES: dict[int, tuple[Any, str]] = {}


def state_hash(collections: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of a state (sorted keys); identifies a seed."""
    known = _KNOWN_HASHES.get(id(collections))
    if known is not None and known[0] is collections:
        return known[1]
    blob = json.dumps(collections, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def remember_state_hash(collections: Mapping[str, Any], digest: str) -> None:
    """Tell :func:`state_hash` the hash of a state object already known by its hash (a
    seed read back from the store's content-addressed blobs): a 5 MB seed takes ~0.15 s
    to hash again. The state must not change afterwards (seeds are read-only)."""
    if len(_KNOWN_HASHES) >= 8:
        _KNOWN_HASHES.pop(next(iter(_KNOWN_HASHES)))
    _KNOWN_HASHES[id(collections)] = (collections, digest)


def import_file(path: Path, module_name: str, hint: str = "", *, package: bool = False) -> Any:
    """Import a Python file as ``module_name`` (reused while it is the same file).

    With ``package``, the file's folder is searched for its sibling modules: the module
    is a package over that folder (``from .helpers import x`` imports
    ``module_name.helpers``), and while it executes the folder is also on ``sys.path``
    (``import helpers``). Siblings imported the second way are then taken out of
    ``sys.modules`` again, so another sandbox's ``helpers.py`` is not mistaken for this
    one; import them at the top of the file (or relatively).

    Raises:
        SandboxError: the file cannot be imported (its exception is named).
    """
    loaded = sys.modules.get(module_name)
    if loaded is not None and getattr(loaded, "__file__", None) == str(path):
        return loaded
    folder = str(path.parent)
    spec = importlib.util.spec_from_file_location(
        module_name, path, submodule_search_locations=[folder] if package else None
    )
    if spec is None or spec.loader is None:
        raise SandboxError(f"{path}: cannot import")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    before = set(sys.modules)
    if package:
        sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise SandboxError(f"{path}: import failed: {type(exc).__name__}: {exc}", hint) from exc
    finally:
        if package:
            sys.path.remove(folder)
            _forget_siblings(set(sys.modules) - before, path.parent, module_name)
    return module


def _forget_siblings(names: set[str], folder: Path, package: str) -> None:
    """Drop the modules in ``names`` that were found in ``folder`` through ``sys.path``:
    ``folder/NAME.py`` and ``folder/NAME/`` packages, with their submodules."""
    folder = folder.resolve()
    tops = set()
    for name in names:
        if "." in name or name == package:
            continue
        file = getattr(sys.modules.get(name), "__file__", None)
        if file is None:
            continue
        where = Path(file).resolve()
        if where.parent == folder or (
            where.name == "__init__.py" and where.parent.parent == folder
        ):
            tops.add(name)
    for name in names:
        if name.split(".")[0] in tops:
            sys.modules.pop(name, None)


def load_tools_module(path: Path, module_name: str) -> tuple[dict[str, ToolSpec], Any]:
    """Import ``path``; return its @tool functions (in definition order) and the module.

    Read tools are returned wrapped so that they see the state read-only
    (:func:`~agentbox.sandbox.state.reading_only`).

    Raises:
        SandboxError: the file does not import, defines no tools, or two tools share a
            name (the message names both places).
    """
    module = import_file(path, module_name, package=True)
    _check_redefined(path)
    declared: dict[str, ToolSpec] = {}
    for value in vars(module).values():
        spec_ = getattr(value, "__agentbox_tool__", None)
        if not isinstance(spec_, ToolSpec):
            continue
        check_tool_names(declared, {spec_.name: spec_})  # a second name of one function is fine
        declared.setdefault(spec_.name, spec_)
    tools = {
        name: dataclasses.replace(spec_, fn=reading_only(spec_.fn, name))
        if spec_.effect == "read"
        else spec_
        for name, spec_ in declared.items()
    }
    if not tools:
        raise SandboxError(f"{path}: defines no @tool functions")
    return tools, module


def _decorated_tools(tree: ast.Module, decorator: str) -> list[tuple[str, int]]:
    """``(tool name, line)`` of the top-level functions decorated with ``decorator``."""
    found = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for dec in node.decorator_list:
            target = dec.func if isinstance(dec, ast.Call) else dec
            called = target.attr if isinstance(target, ast.Attribute) else None
            called = called or (target.id if isinstance(target, ast.Name) else None)
            if called != decorator:
                continue
            name = node.name
            for kw in dec.keywords if isinstance(dec, ast.Call) else []:
                if kw.arg == "name" and isinstance(kw.value, ast.Constant):
                    name = str(kw.value.value)
            found.append((name, dec.lineno))
    return found


def _check_redefined(path: Path) -> None:
    """Refuse a tools file that defines one tool name twice (the first would be lost)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return  # it imported: nothing more to learn here
    first: dict[str, str] = {}
    for name, line in _decorated_tools(tree, "tool"):
        check_tool_names(first, {name: f"{path}:{line}"})
        first[name] = f"{path}:{line}"


def _check_mock_names(path: Path, tools: dict[str, ToolSpec]) -> None:
    """Refuse an ``http_mocks.py`` mock named like a tool of ``tools.py``."""
    mocks = path / "http_mocks.py"
    if not mocks.is_file():
        return
    try:
        tree = ast.parse(mocks.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return  # reported when the mocks are imported
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if called != "http_mock":
            continue
        for kw in node.keywords:
            if kw.arg == "name" and isinstance(kw.value, ast.Constant):
                check_tool_names(tools, {str(kw.value.value): f"{mocks}:{node.lineno}"})


_CACHE: dict[tuple[str, str | None], Sandbox] = {}


def load_sandbox(path: Path, *, seed_override: Path | None = None) -> Sandbox:
    """Load ``sandboxes/NAME/``. Results are cached per process (seed is read-only).

    Args:
        path: the sandbox folder.
        seed_override: a folder or file replacing the configured seed (``--data``).

    Raises:
        SandboxError: missing folder or tools.py, malformed seed, bad sandbox.toml.
    """
    path = path.resolve()
    key = (str(path), str(seed_override) if seed_override else None)
    if key in _CACHE:
        return _CACHE[key]
    if not path.is_dir():
        raise SandboxError(f"sandbox folder not found: {path}")
    tools_py = path / "tools.py"
    if not tools_py.is_file():
        raise SandboxError(f"{path}: no tools.py", "`agentbox init` scaffolds a sandbox")
    config: dict[str, Any] = {}
    if (path / "sandbox.toml").is_file():
        try:
            config = tomllib.loads((path / "sandbox.toml").read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise SandboxError(f"{path / 'sandbox.toml'}: {exc}") from exc
    tools, module = load_tools_module(tools_py, f"agentbox_sandbox_{path.name}")
    _check_mock_names(path, tools)
    seed_path = seed_override or _configured_seed(path, config)
    if not seed_path.exists() and ("seed" in config or seed_override):
        raise SandboxError(
            f"sandbox {path.name}: seed data not found at {seed_path}",
            str(config.get("seed_hint", "pass --data PATH or fix `seed` in sandbox.toml")),
        )
    collections = _collections_setting(path, config)
    if seed_path.is_dir():  # its files are found now (cheap), read on first use
        _collection_files(seed_path, collections)

    def read_seed() -> dict[str, dict[str, Any]]:
        return load_state_source(seed_path, collections) if seed_path.exists() else {}

    policy_file = path / str(config.get("policy", "policy.md"))
    policy_text = policy_file.read_text(encoding="utf-8") if policy_file.is_file() else ""
    hasher = _fingerprint_hook(module, tools_py)
    task_hook = getattr(module, "task_scenario", None)
    box = Sandbox(
        path.name,
        path,
        tools,
        {},  # read on first use: see _lazy_seed
        policy_text,
        str(seed_path),
        config,
        hasher,
        task_hook if callable(task_hook) else None,
    )
    _CACHE[key] = _lazy_seed(box, read_seed)
    return box


def _collections_setting(path: Path, config: dict[str, Any]) -> CollectionFiles | None:
    """sandbox.toml's ``collections``: a list of file stems or a table of file names."""
    value = config.get("collections")
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        return value
    raise SandboxError(
        f"{path / 'sandbox.toml'}: collections: expected a list of file stems or a table "
        f"of file names, got {value!r}",
        'e.g. collections = ["orders", "users"]  or  [collections] users = "users.2024-11.json"',
    )


def _fingerprint_hook(module: Any, tools_py: Path) -> Callable[[State], str] | None:
    """tools.py's ``state_fingerprint``, or its deprecated name ``state_hash`` (warns)."""
    hook = getattr(module, "state_fingerprint", None)
    if callable(hook):
        return hook  # type: ignore[no-any-return]
    old = getattr(module, "state_hash", None)
    if not callable(old) or old is state_hash:
        return None  # agentbox's content hash imported under that name is no hook
    warnings.warn(
        f"{tools_py}: the sandbox hook `state_hash(state)` is now called "
        "`state_fingerprint(state)`; rename it (the old name still works)",
        FutureWarning,
        stacklevel=2,
    )
    return old  # type: ignore[no-any-return]


def _configured_seed(path: Path, config: dict[str, Any]) -> Path:
    env = config.get("seed_env")
    raw = os.environ.get(str(env)) if env else None
    raw = raw or str(config.get("seed", "seed"))
    return (path / os.path.expandvars(os.path.expanduser(raw))).resolve()
