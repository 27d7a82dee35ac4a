"""Field descriptions from attribute docstrings, read only when something shows them.

The docstring under each pydantic field is its documentation (the scenario JSON Schema,
``docs/trace-format.md``). pydantic's ``use_attribute_docstrings=True`` reads them while
each class is built, walking stack frames and re-parsing the module source at import:
~50-100 ms of every process that imports the models, for text only ``agentbox schema``
and ``python -m agentbox.events`` ever print. So the models leave the flag off, and the
docstrings are read here, only when a schema or a description is asked for: generate a
schema with ``Model.model_json_schema(schema_generator=DocstringJsonSchema)`` and read a
field's text with :func:`description`.

Output is the same as with the flag: :class:`DocstringJsonSchema` adds each description
where pydantic would have put it (checked byte for byte by ``tests/test_field_docs.py``).
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic.json_schema import (
    GenerateJsonSchema,
    JsonSchemaValue,
)
from pydantic_core import core_schema


def attribute_docs(model: type[BaseModel]) -> dict[str, str]:
    """``{field name: docstring}`` of ``model``'s fields that have one.

    A field takes the docstring written under it in the class that (re)defines it, as
    pydantic's ``use_attribute_docstrings`` does; a field with ``Field(description=...)``
    keeps that description (see :func:`description`). Cached per class.
    """
    docs: dict[str, str] = {}
    for klass in reversed(model.__mro__):
        if not (isinstance(klass, type) and issubclass(klass, BaseModel)) or klass is BaseModel:
            continue
        own = _own_docs(klass)
        for name in inspect.get_annotations(klass):
            if name in own:
                docs[name] = own[name]
            else:
                docs.pop(name, None)
    return docs


def description(model: type[BaseModel], name: str) -> str | None:
    """The description of field ``name`` of ``model``: ``Field(description=...)``, else
    its attribute docstring, else None. Raises KeyError for an unknown field."""
    info = model.model_fields[name]
    return info.description if info.description is not None else attribute_docs(model).get(name)


@functools.cache
def _own_docs(klass: type[BaseModel]) -> dict[str, str]:
    # pydantic's own extractor, so the text (dedent, cleandoc) is exactly what the config
    # flag gave; use_inspect=True reads the class source via inspect after class creation.
    from pydantic._internal._docs_extraction import extract_docstrings_from_cls

    return extract_docstrings_from_cls(klass, use_inspect=True)


class DocstringJsonSchema(GenerateJsonSchema):
    """JSON Schema generator that gives each model field without an explicit description
    its attribute docstring, in the place pydantic's flag would have put it."""

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        """The JSON Schema of one model, with field descriptions from docstrings."""
        cls = schema["cls"]
        if isinstance(cls, type) and issubclass(cls, BaseModel):
            docs = attribute_docs(cls)
            if docs:
                schema = {**schema, "schema": _with_docs(schema["schema"], cls, docs)}
        return super().model_schema(schema)


def _with_docs(inner: Any, cls: type[BaseModel], docs: dict[str, str]) -> Any:
    """A copy of a model's inner core schema whose fields carry their docstrings as
    ``pydantic_js_updates`` (the class's own core schema is left as it is)."""
    if inner.get("type") != "model-fields":
        if "schema" not in inner:
            return inner
        return {**inner, "schema": _with_docs(inner["schema"], cls, docs)}
    fields = dict(inner["fields"])
    for name, field in fields.items():
        info: FieldInfo | None = cls.model_fields.get(name)
        doc = docs.get(name)
        if info is None or info.description is not None or doc is None:
            continue
        metadata = dict(field.get("metadata") or {})
        old = metadata.get("pydantic_js_updates") or {}
        # key order as pydantic builds it: title, description, deprecated, examples
        updates = {k: old[k] for k in ("title",) if k in old}
        updates["description"] = doc
        updates.update({k: v for k, v in old.items() if k != "title"})
        metadata["pydantic_js_updates"] = updates
        fields[name] = {**field, "metadata": metadata}
    return {**inner, "fields": fields}
