"""A hostile corpus: request bodies no sender should send, and values to put where a document has a field.

``NOT_DOCUMENTS`` are bodies that are not a JSON document at all (a JSON source must
refuse each with a 4xx). ``ODD_DOCUMENTS`` are JSON, but not the object a source expects.
``values()`` is a hypothesis strategy of hostile values (NaN, huge numbers, lone
surrogates, NUL, deep nesting, every wrong type) written into a document as raw bytes,
so they reach the source exactly as a broken sender would write them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from hypothesis import strategies as st


def deep(n: int, end: bytes = b"1") -> bytes:
    return b"[" * n + end + b"]" * n


def deep_objects(n: int, end: bytes = b"1") -> bytes:
    return b'{"a":' * n + end + b"}" * n


NOT_DOCUMENTS: dict[str, bytes] = {
    "empty": b"",
    "whitespace": b" \r\n\t ",
    "not-json": b"this is not json",
    "xml": b"<alert><summary>disk</summary></alert>",
    "form-encoded": b"summary=disk&dedup=k1",
    "truncated": b'{"summary": "x"',
    "trailing-garbage": b'{"summary": "x"} {}',
    "single-quotes": b"{'summary': 'x'}",
    "byte-order-mark": b"\xef\xbb\xbf{}",
    "utf-16": '{"summary": "x"}'.encode("utf-16"),
    "invalid-utf8": b'{"summary": "disk \xff\xfe full"}',
    "overlong-utf8": b'{"summary": "\xc0\xaf"}',
    "utf8-encoded-surrogate": b'{"summary": "\xed\xa0\x80"}',
    "lone-surrogate-escape": b'{"summary": "\\ud800"}',
    "raw-nul-byte": b'{"summary": "a\x00b"}',
    "nan": b"NaN",
    "nan-value": b'{"summary": NaN}',
    "infinity-value": b'{"summary": "x", "value": Infinity}',
    "huge-number": b'{"summary": "x", "value": 1e999}',
    "deep-arrays": deep(100_000),
    "deep-objects": deep_objects(2_000),
    "just-too-deep": deep(65),
}

ODD_DOCUMENTS: dict[str, bytes] = {
    "null": b"null",
    "true": b"true",
    "zero": b"0",
    "string": b'"alert"',
    "empty-array": b"[]",
    "array-of-objects": b'[{"summary": "x"}]',
    "empty-object": b"{}",
    "nul-escape": b'{"summary": "disk\\u0000full"}',
    "nul-escape-key": b'{"k\\u0000": "v\\u0000"}',
    "integer-of-5000-digits": b'{"value": ' + b"9" * 5000 + b"}",
    "64-bit-overflow": b'{"value": 18446744073709551616}',
    "many-keys": b"{" + b",".join(b'"k%d":0' % i for i in range(50_000)) + b"}",
    "long-string": b'{"summary": "' + b"x" * 1_000_000 + b'"}',
}


class Raw:
    """A token written into a document as is; it need not be valid JSON."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __repr__(self) -> str:
        shown = self.data if len(self.data) <= 60 else self.data[:30] + b"..." + self.data[-20:]
        return f"Raw({shown!r}, {len(self.data)} bytes)"


RAW_VALUES = [
    b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999", b"1" + b"0" * 400, b"9" * 5000, b"-0", b"1e-999",
    b"18446744073709551616", b'"\\ud800"', b'"\\udc00x"', b'"\\u0000"', b'"a\\u0000b"', b'"\\\\u0000"',
    b'"\x00"', b'"\xff\xfe"', b'"\xed\xa0\x80"', deep(70), deep_objects(70), deep(400, b"NaN"),
    deep(400, b'"\\ud800"'), deep_objects(999), b'""', b'"   "', b"[]", b"{}", b"null", b"true", b"0",
    b'"' + b"x" * 100_000 + b'"',
]  # fmt: skip


def encode(value: Any) -> bytes:
    """``value`` as a sender would write it: ``Raw`` tokens verbatim, everything else as JSON."""
    if isinstance(value, Raw):
        return value.data
    if isinstance(value, dict):
        return b"{" + b",".join(json.dumps(str(k)).encode() + b":" + encode(v) for k, v in value.items()) + b"}"
    if isinstance(value, list):
        return b"[" + b",".join(encode(v) for v in value) + b"]"
    try:
        return json.dumps(value, allow_nan=False).encode()
    except ValueError:  # NaN and infinities, written as a careless sender writes them
        return str(value).encode()


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=2**64), st.floats(), st.text(max_size=20),
    st.sampled_from(RAW_VALUES).map(Raw),
)


def values() -> st.SearchStrategy[Any]:
    """Hostile values of any JSON type, nested a little, with raw tokens anywhere inside."""
    return st.recursive(
        _scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
        ),
        max_leaves=12,
    )


Path = tuple[str | int, ...]


def paths(doc: Any, prefix: Path = ()) -> Iterator[Path]:
    """Every place in ``doc`` that holds a value (keys of objects and items of arrays), the root excluded."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield (*prefix, key)
            yield from paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield (*prefix, i)
            yield from paths(value, (*prefix, i))


_DELETE = object()


def replaced(doc: Any, path: Path, value: Any) -> Any:
    """A copy of ``doc`` with ``value`` at ``path`` (``DELETE`` removes it)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(doc, dict):
        copy = dict(doc)
        if not rest and value is _DELETE:
            copy.pop(head, None)
        else:
            copy[head] = replaced(doc[head], rest, value)
        return copy
    copy_list = list(doc)
    if not rest and value is _DELETE:
        del copy_list[int(head)]
    else:
        copy_list[int(head)] = replaced(doc[int(head)], rest, value)
    return copy_list


DELETE = _DELETE

__all__ = ["DELETE", "NOT_DOCUMENTS", "ODD_DOCUMENTS", "RAW_VALUES", "Raw", "deep", "deep_objects", "encode", "paths",
           "replaced", "values"]
