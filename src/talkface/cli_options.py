"""Command-line options made from config dataclass fields: the CLI writes no default, type or range twice.

An :class:`Opt` names a config field and says how the command line spells it; :func:`add_options`
adds it to an ``argparse`` parser with the field's default, a type from the field's annotation and
the accepted range of :data:`talkface.config_checks.LIMITS` in its help, and :func:`config_kwargs`
turns the parsed arguments back into the config's keyword arguments. The value itself is checked
once, by the config (``__post_init__``); options of commands that build no config (``landmarks``'
``--motion-scale``) check it while parsing with :func:`talkface.config_checks.number_arg`, against
the same table.

Conventions (those of the ``talkface`` command before its options were generated):

* the flag is ``--`` + the field with dashes, unless :attr:`Opt.flag` says otherwise;
* a ``bool`` field that defaults to ``True`` is turned off by a flag (``close_mouth`` ->
  ``--keep-open-mouth``, ``lpips`` -> ``--no-lpips``), one that defaults to ``False`` is turned on by
  ``--field``;
* ``{default}`` in a help text is the field's default (for options whose default is left to the
  config, shown by ``talkface train e2e``).

:class:`LazySubParsers` adds a subcommand's options only when that subcommand is parsed, and
:func:`source_fields` reads a config's defaults from its source file (:mod:`ast`) while its module is
not imported yet, so that ``talkface --help``, ``talkface animate --help`` and a mistyped option do
not import torch to learn a config's defaults; a config whose defaults are not plain literals or
names of literal constants (``field(default_factory=...)``, ``32 * 1024 * 1024``) is imported instead.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib
import importlib.util
import inspect
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from talkface.config_checks import LIMITS

__all__ = ["FIELD", "LazySubParsers", "Opt", "add_options", "config_kwargs", "lazy_options", "read_source_fields",
           "source_fields"]


class _FieldDefault:
    def __repr__(self) -> str:
        return "FIELD"


#: :attr:`Opt.default` meaning "the config field's default" (``None`` for an option with no field).
FIELD: Any = _FieldDefault()

_TYPES: dict[str, Callable[[str], Any]] = {"int": int, "float": float}  # str: argparse's own

#: Ranges up to this are shown in the help; wider ones are sanity bounds (seeds, step counts) and only checked.
_SHOWN_RANGE_MAX = 10_000

#: An ``argparse`` action class (``argparse.BooleanOptionalAction``) as :attr:`Opt.action`.
_ActionClass = type[argparse.Action]

#: Where options take their defaults: a config dataclass, a function (its keyword defaults), several, or none.
Config = Any


@dataclasses.dataclass(frozen=True)
class Opt:
    """One command-line option (or positional argument) and the config field it sets.

    Attributes:
        name: the config field (or, for an option with no config, the value's name).
        help: what it does, for ``--help`` (``{default}`` is replaced by the field's default).
        flag: the long option (default ``--`` + ``name`` with dashes; ``--no-`` + it for a ``bool``
            field that defaults to ``True``); ``""`` for a positional argument.
        short: a short alias (``-o``).
        dest: the attribute on the parsed arguments (default: argparse's, from the flag).
        default: the command's default when it is not the field's (a preset), or :data:`FIELD`.
        type, choices, metavar, nargs, required, action: as for ``add_argument`` (``type`` by
            default from the field's annotation; ``action=argparse.BooleanOptionalAction`` gives a ``bool``
            field ``--flag`` and ``--no-flag``).
        scale: config value = command-line value x ``scale`` (``max_upload_bytes`` given in MiB).
        limit: key of :data:`~talkface.config_checks.LIMITS` when it is not ``name``.
        show_range: append the accepted range to the help (unless it is a wide sanity bound).
    """

    name: str
    help: str
    flag: str | None = None
    short: str | None = None
    dest: str | None = None
    default: Any = FIELD
    type: Callable[[str], Any] | None = None
    choices: Sequence[Any] | None = None
    metavar: str | None = None
    nargs: str | None = None
    required: bool = False
    action: str | _ActionClass | None = None
    scale: float = 1.0
    limit: str | None = None
    show_range: bool = True

    def flags(self, field: Field | None) -> list[str]:
        """The option strings (empty for a positional argument)."""
        if self.flag == "":
            return []
        flag = self.flag
        if flag is None:
            flag = ("--no-" if self.inverted(field) else "--") + self.name.replace("_", "-")
        return [f for f in (self.short, flag) if f]

    def inverted(self, field: Field | None) -> bool:
        """Whether the flag turns off a ``bool`` field that defaults to ``True`` (not so with an action of its own,
        such as ``argparse.BooleanOptionalAction``'s ``--realtime`` / ``--no-realtime``)."""
        return field is not None and _is_bool(field) and field.default is True and self.action in (None, "store_true")

    def kwargs(self, field: Field | None, unset: bool = False) -> dict[str, Any]:
        """``add_argument`` keyword arguments (``unset``: the default is left to the config: absent)."""
        default = self.default
        if default is FIELD:
            default = None if field is None else field.default
            if isinstance(default, int | float) and not isinstance(default, bool) and self.scale != 1.0:
                default = default / self.scale
        help_text = self.help.replace("{default}", _shown(default))
        limit = LIMITS.get(self.limit or self.name)
        if limit is not None and self.show_range and limit.hi <= _SHOWN_RANGE_MAX:
            help_text += f"; {limit.describe()}"
        kw: dict[str, Any] = {"help": help_text}
        if self.flag == "":  # positional
            kw.update({k: v for k, v in (("nargs", self.nargs), ("metavar", self.metavar), ("type", self.type))
                       if v is not None})
            return kw
        is_flag = self.action == "store_true" or (field is not None and _is_bool(field) and self.action is None)
        if is_flag:
            kw["action"] = "store_true"
            default = False
        else:
            if self.action is not None:
                kw["action"] = self.action
                if self.action == "append" and self.default is FIELD:
                    default = []
            kind = self.type or (float if self.scale != 1.0 else None)
            kind = kind or (_field_type(field) if field is not None and self.action is None else None)
            if kind is not None:
                kw["type"] = kind
        kw["default"] = argparse.SUPPRESS if unset else default
        for key in ("dest", "choices", "metavar", "nargs"):
            if getattr(self, key) is not None:
                kw[key] = getattr(self, key)
        if self.required:
            kw["required"] = True
        return kw


@dataclasses.dataclass(frozen=True)
class Field:
    """What an option takes from a config field (or a keyword parameter): its default and annotation."""

    default: Any
    annotation: str


def _annotation(field: Field) -> str:
    parts = [p.strip() for p in field.annotation.split("|") if p.strip() != "None"]
    return parts[0] if len(parts) == 1 else field.annotation


def _is_bool(field: Field) -> bool:
    return _annotation(field) == "bool"


def _field_type(field: Field) -> Callable[[str], Any] | None:
    return _TYPES.get(_annotation(field))


def _shown(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _type_text(annotation: Any) -> str:
    return annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))


def _fields_of(source: Any) -> dict[str, Field]:
    """A dataclass's fields, a function's keyword parameters with defaults, or ``source`` itself if it is such a
    mapping already (:func:`source_fields`); anything else has no fields."""
    if isinstance(source, dict):
        return source
    if dataclasses.is_dataclass(source):
        out = {}
        for f in dataclasses.fields(source):
            default = f.default
            if default is dataclasses.MISSING:
                default = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
            out[f.name] = Field(default, _type_text(f.type))
        return out
    if not inspect.isfunction(source):
        return {}
    return {name: Field(p.default, _type_text(p.annotation)) for name, p in inspect.signature(source).parameters.items()
            if p.default is not inspect.Parameter.empty}


def _module_tree(module: str) -> ast.Module | None:
    """The parsed source file of ``module``, nothing imported (``None``: not a plain ``.py`` module)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    return ast.parse(Path(spec.origin).read_text(encoding="utf-8"))


def _constant(tree: ast.Module, name: str, depth: int = 0) -> Any:
    """The literal value of the module-level constant ``name`` of ``tree``: assigned a literal there, or imported
    (``from talkface.x import NAME``) from a module where it is; ``ValueError`` when not found that way."""
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in stmt.targets):
            return ast.literal_eval(stmt.value)
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.target.id == name \
                and stmt.value is not None:
            return ast.literal_eval(stmt.value)
        if isinstance(stmt, ast.ImportFrom) and stmt.module and stmt.level == 0 and depth < 2:
            alias = next((a for a in stmt.names if (a.asname or a.name) == name), None)
            source = _module_tree(stmt.module) if alias is not None else None
            if alias is not None and source is not None:
                return _constant(source, alias.name, depth + 1)
    raise ValueError(f"{name} is not a literal constant")


def _default(node: ast.expr, tree: ast.Module) -> Any:
    """A default written as a literal or as the name of a literal constant (:func:`_constant`)."""
    return _constant(tree, node.id) if isinstance(node, ast.Name) else ast.literal_eval(node)


def read_source_fields(module: str, name: str) -> dict[str, Field] | None:
    """The fields of the dataclass (or the keyword defaults of the function) ``name`` of ``module``, read from its
    source file with :mod:`ast`, nothing imported; ``None`` when that cannot be done exactly (not found, a base
    class, a default that is not a literal or the name of a literal constant, such as ``field(...)`` or
    ``32 * 1024``): then it is imported. A constant may be imported from another module (``MAX_SPEECH_S`` from
    :mod:`talkface.config_checks`), whose source is read too."""
    tree = _module_tree(module)
    if tree is None:
        return None
    node = next((n for n in tree.body if isinstance(n, ast.ClassDef | ast.FunctionDef) and n.name == name), None)
    try:
        if isinstance(node, ast.ClassDef) and not node.bases and any(_is_dataclass_decorator(d)
                                                                     for d in node.decorator_list):
            found = [s for s in node.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)]
            if any(re.search(r"\b(ClassVar|InitVar)\b", ast.unparse(s.annotation)) for s in found):
                return None
            return {stmt.target.id: Field(_default(stmt.value, tree) if stmt.value else None,  # type: ignore[union-attr]
                                          ast.unparse(stmt.annotation)) for stmt in found}
        if isinstance(node, ast.FunctionDef):
            a = node.args
            pairs = [*zip(a.args[len(a.args) - len(a.defaults):], a.defaults, strict=True),
                     *((arg, d) for arg, d in zip(a.kwonlyargs, a.kw_defaults, strict=True) if d is not None)]
            return {arg.arg: Field(_default(d, tree), ast.unparse(arg.annotation) if arg.annotation else "")
                    for arg, d in pairs}
    except (ValueError, TypeError, SyntaxError):  # not a literal
        return None
    return None


def _is_dataclass_decorator(node: ast.expr) -> bool:
    """``@dataclass``, ``@dataclass(...)``, ``@dataclasses.dataclass(...)``."""
    target = node.func if isinstance(node, ast.Call) else node
    return (isinstance(target, ast.Name) and target.id == "dataclass") or (
        isinstance(target, ast.Attribute) and target.attr == "dataclass")


def source_fields(source: str) -> dict[str, Field]:
    """The fields of ``"module:name"`` (a config dataclass or a function): read from the source while the module is
    not imported yet (``talkface animate --help`` need not import torch for AnimateConfig's defaults), else from the
    object itself; ``{}`` when the module is missing (an optional part not installed)."""
    module, _, name = source.partition(":")
    if module not in sys.modules:
        fields = read_source_fields(module, name)
        if fields is not None:
            return fields
    try:
        return _fields_of(getattr(importlib.import_module(module), name))
    except ModuleNotFoundError as exc:
        if exc.name is None or not module.startswith(exc.name):
            raise
        return {}


def _fields(config: Config) -> dict[str, Field]:
    sources = () if config is None else config if isinstance(config, tuple) else (config,)
    out: dict[str, Field] = {}
    for source in reversed(sources):  # the first source's field wins; None: no fields
        if source is not None:
            out.update(_fields_of(source))
    return out


def add_options(parser: argparse.ArgumentParser | Any, opts: Iterable[Opt], config: Config = None, *,
                unset: bool = False) -> None:
    """Add ``opts`` to ``parser`` (or an argument group); fields of the dataclass ``config`` give their defaults
    and types. ``unset``: options that are not given stay absent from the parsed arguments (the config's own
    defaults apply; used where only the options given override a preset)."""
    fields = _fields(config)
    for opt in opts:
        field = fields.get(opt.name)
        parser.add_argument(*(opt.flags(field) or [opt.name]), **opt.kwargs(field, unset=unset))


def lazy_options(opts: Iterable[Opt], *sources: str) -> Callable[[argparse.ArgumentParser], None]:
    """A :class:`LazySubParsers` ``populate`` function: :func:`add_options` of ``opts`` with the defaults of
    ``sources`` (``"module:name"`` of config dataclasses or functions, read when the command is parsed)."""

    def fill(parser: argparse.ArgumentParser) -> None:
        add_options(parser, opts, tuple(source_fields(source) for source in sources))

    return fill


def config_kwargs(config: Config, opts: Iterable[Opt], args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of ``config`` that ``opts`` set, read back from the parsed ``args``."""
    fields = _fields(config)
    out: dict[str, Any] = {}
    for opt in opts:
        field = fields.get(opt.name)
        if field is None:
            continue
        dest = opt.dest or (opt.flags(field)[-1].lstrip("-").replace("-", "_") if opt.flag != "" else opt.name)
        if not hasattr(args, dest):
            continue
        out[opt.name] = _to_field(getattr(args, dest), opt, field)
    return out


def _to_field(value: Any, opt: Opt, field: Field) -> Any:
    """A parsed value as the config field holds it (unit, int, tuple, Path)."""
    kind = _annotation(field)
    if opt.inverted(field):
        return not value
    if value is None:
        return None
    if opt.scale != 1.0:
        value = value * opt.scale
        return int(value) if kind == "int" else value
    if kind.startswith("tuple") and isinstance(value, list):
        return tuple(value)
    if kind == "Path" and value:
        return Path(value)
    return value


class LazySubParsers(argparse._SubParsersAction):  # type: ignore[type-arg,unused-ignore]
    """Subcommands whose arguments are added when the subcommand is parsed (or :meth:`populate` is called).

    ``add_parser(name, populate=fn, ...)``: ``fn(parser)`` adds the arguments, once.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._populate: dict[str, Callable[[argparse.ArgumentParser], None]] = {}

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        populate = kwargs.pop("populate", None)
        parser: argparse.ArgumentParser = super().add_parser(name, **kwargs)
        if populate is not None:
            self._populate[name] = populate
        return parser

    def populate(self, name: str) -> argparse.ArgumentParser:
        """The subcommand ``name``'s parser with its arguments added."""
        parser: argparse.ArgumentParser = self.choices[name]
        fill = self._populate.pop(name, None)
        if fill is not None:
            fill(parser)
        return parser

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: str | Sequence[Any] | None, option_string: str | None = None) -> None:
        if isinstance(values, Sequence) and values and values[0] in self._populate:
            self.populate(values[0])
        super().__call__(parser, namespace, values, option_string)


def lazy_subparsers(parser: argparse.ArgumentParser, **kwargs: Any) -> LazySubParsers:
    """``parser.add_subparsers(**kwargs)`` whose subcommands may be :class:`LazySubParsers` ones."""
    parser.register("action", "parsers", LazySubParsers)
    sub = parser.add_subparsers(**kwargs)
    assert isinstance(sub, LazySubParsers)
    return sub


def handlers_of(namespace: Mapping[str, Any], prefix: str = "_cmd_") -> dict[str, Any]:
    """The command handlers among a module's names: ``_cmd_train_e2e`` -> ``"train_e2e"``."""
    return {name[len(prefix):]: value for name, value in namespace.items() if name.startswith(prefix)}
