"""Each setting is declared once, on its `Settings` field: SPEC is read off the fields, and each
field's parser gives a value of the field's type."""

from __future__ import annotations

import types
import typing
from dataclasses import fields

from ticketing.settings import SPEC, Settings


def test_spec_is_the_fields_in_order() -> None:
    """SPEC names every field, in field order, with its variable, parser and default."""
    assert list(SPEC) == [f.name for f in fields(Settings)]
    for f in fields(Settings):
        assert set(f.metadata) == {"env", "parse", "default"}, f.name
        assert SPEC[f.name] == dict(f.metadata)


def test_each_variable_names_one_setting() -> None:
    """No two settings read the same environment variable, and each is upper case."""
    names = [spec["env"] for spec in SPEC.values()]
    assert len(names) == len(set(names))
    assert all(name == name.upper() for name in names)


def test_every_setting_is_required_on_the_class() -> None:
    """A field has no default of its own: the default is the text in its spec, parsed by
    Settings.load, never a value that could differ from it."""
    hints = typing.get_type_hints(Settings)
    for f in fields(Settings):
        assert f.name in hints
        assert not hasattr(Settings, f.name) or isinstance(getattr(Settings, f.name), property)


def _matches(value: object, annotation: object) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if origin is tuple:
        item = typing.get_args(annotation)[0]
        return isinstance(value, tuple) and all(_matches(v, item) for v in value)
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, annotation)  # type: ignore[arg-type]


def test_each_default_parses_to_the_fields_type() -> None:
    """The default text of every setting, through its parser, is a value of the field's type
    (mypy checks the parser's declared type; this checks what it returns)."""
    hints = typing.get_type_hints(Settings)
    settings = Settings.load({}, dotenv=None)
    for f in fields(Settings):
        value = getattr(settings, f.name)
        assert _matches(value, hints[f.name]), (f.name, value, hints[f.name])
