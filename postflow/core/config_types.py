"""The value types of the config sections: how each value is checked, how a section reads
`<key>_file`, and how a pydantic error becomes a message naming the dotted key."""

from __future__ import annotations

import dataclasses
import ipaddress
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, Strict, model_validator
from pydantic.dataclasses import dataclass
from pydantic_core import ErrorDetails

from postflow.core.bwlimit import parse_schedule

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class ConfigError(ValueError):
    """A configuration problem; the message names the key."""


class KeyProblem(ValueError):
    """A section's own check failing on one of its keys; the error then names that key."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def parse_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT, got {address!r}")
    return host.strip("[]"), int(port)


def check_address(address: str) -> str:
    parse_address(address)
    return address


def check_optional_address(address: str) -> str:
    return address and check_address(address)


def check_http_url(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise ValueError("expected an http(s) URL")
    return url


def check_proxy(proxy: str) -> str:
    if proxy != "*":
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ValueError(f"{proxy!r} is not an IP address or network") from None
    return proxy


def check_log_level(level: str) -> str:
    if level.upper() not in LOG_LEVELS:
        raise ValueError(f"expected DEBUG, INFO, WARNING or ERROR, got {level!r}")
    return level


def check_bwlimit(text: str) -> str:
    parse_schedule(text)
    return text


def split_commas(value: Any) -> Any:
    return [item for item in value.split(",") if item] if isinstance(value, str) else value


# Booleans and numbers are taken as JSON writes them ("yes" is not true, "4" is not 4);
# lists may be written "a,b"; strings accept numbers (SECTION).
Flag = Annotated[bool, Strict()]
WholeNumber = Annotated[int, Strict()]
AtLeastOne = Annotated[int, Strict(), Field(ge=1)]
Seconds = Annotated[float, Strict()]
PositiveSeconds = Annotated[float, Strict(), Field(gt=0)]
NonNegativeSeconds = Annotated[float, Strict(), Field(ge=0)]
Address = Annotated[str, AfterValidator(check_address)]
OptionalAddress = Annotated[str, AfterValidator(check_optional_address)]  # "" = off
HttpUrl = Annotated[str, AfterValidator(check_http_url)]
Strings = Annotated[tuple[Annotated[str, Strict()], ...], BeforeValidator(split_commas)]
LogLevel = Annotated[str, AfterValidator(check_log_level)]
BandwidthLimit = Annotated[str, AfterValidator(check_bwlimit)]  # see postflow/core/bwlimit.py
Proxies = Annotated[tuple[Annotated[str, Strict(), AfterValidator(check_proxy)], ...], BeforeValidator(split_commas)]

SECTION = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


@dataclass(frozen=True, config=SECTION)
class Section:
    @model_validator(mode="before")
    @classmethod
    def read_key_files(cls, data: Any) -> Any:
        """`<key>_file` stands for `<key>` holding that file's content."""
        if not isinstance(data, dict):
            return data
        names = {f.name for f in dataclasses.fields(cls)}
        values = {}
        for key, value in data.items():
            if key.endswith("_file") and key[:-5] in names:
                values[key[:-5]] = read_secret_file(key, value)
            else:
                values[key] = value
        return values


def read_secret_file(key: str, path: Any) -> str:
    if not isinstance(path, str):
        raise KeyProblem(key, "expected a file path")
    try:
        return Path(path).expanduser().read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise KeyProblem(key, f"cannot read {path}: {exc.strerror}") from None


MESSAGES = {
    "bool_type": "expected true or false, got {input!r}",
    "int_type": "expected a whole number, got {input!r}",
    "float_type": "expected a number, got {input!r}",
    "string_type": "expected a string, got {input!r}",
    "tuple_type": "expected a list of strings, got {input!r}",
    "greater_than": "must be greater than {gt:g}",
    "unexpected_keyword_argument": "unknown key",
    "missing": "required",
}


def describe(error: ErrorDetails) -> str:
    """`dotted.key: what is wrong`, for one pydantic error."""
    keys: list[str] = []
    for part in error["loc"]:  # a list position joins its key: pipelines[1].rules[0].folder
        if isinstance(part, int) and keys:
            keys[-1] += f"[{part}]"
        elif isinstance(part, str):
            keys.append(part)
    context = error.get("ctx", {})
    cause = context.get("error")
    if isinstance(cause, KeyProblem):
        keys.append(cause.key)
    kind, given = error["type"], error["input"]
    if kind == "value_error":
        message = str(cause)
    elif kind == "dataclass_type":
        message = f"expected an object, got {type(given).__name__}"
    elif kind == "literal_error" and " or " not in context["expected"]:
        message = f"only {context['expected']} is supported, got {given!r}"
    elif kind == "literal_error":
        message = f"expected {context['expected'].replace(chr(39), '')}, got {given!r}"
    elif kind == "greater_than_equal":
        message = "must be 0 or more" if context["ge"] == 0 else f"must be at least {context['ge']:g}"
    elif kind in MESSAGES:
        message = MESSAGES[kind].format(input=given, **context)
    else:
        message = error["msg"]
    return f"{'.'.join(keys) or 'config'}: {message}"
