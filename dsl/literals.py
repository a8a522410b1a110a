"""Literal forms: token text -> checked value, and value -> canonical text.

The grammar's literal terminals are lenient on purpose; these functions do the
real validation so that ``4Mb`` or ``10.0.0.1:99999`` get a precise message.
Errors are raised without source text; the parser attaches it.
"""

from __future__ import annotations

import ipaddress
import json
import re
from decimal import Decimal, localcontext
from fractions import Fraction

from aipol.dsl import ast
from aipol.dsl.ast import Span
from aipol.dsl.errors import AipolError

SIZE_UNITS: dict[str, int] = {
    "B": 1,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
}
DURATION_UNITS: dict[str, int] = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
COUNT_SUFFIXES: dict[str, int] = {"": 1, "K": 1000, "M": 1000**2}
HTTP_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")

# enough digits for exact sizes/durations: 1/1024**3 has 30 decimals
_PREC = 100
IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
_NUM_UNIT_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)(.*)\Z", re.S)
_HOSTNAME_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")


def _split_number(text: str) -> tuple[Decimal, str, str]:
    m = _NUM_UNIT_RE.match(text)
    assert m is not None, text  # guaranteed by the terminal's regex
    return Decimal(m.group(1)), m.group(1), m.group(2)


def _unit_error(kind: str, unit: str, units: list[str], span: Span, example: str) -> AipolError:
    if not unit:
        return AipolError(
            f"{kind} needs a unit", span, expected=units, hint=f"for example `{example}`"
        )
    return AipolError(f"unknown {kind} unit `{unit}`", span, expected=units)


# ------------------------------------------------------------------ strings


def parse_string(token: str, span: Span) -> ast.Str:
    """A double-quoted string with JSON escapes (``\\" \\\\ \\/ \\n \\t \\r
    \\b \\f \\uXXXX``)."""
    try:
        value = json.loads(token, strict=False)  # strict=False: raw tabs allowed
    except json.JSONDecodeError as err:
        col = span.column + err.pos
        bad = Span(span.file, span.line, col, span.line, min(col + 2, span.end_column))
        found = token[err.pos : err.pos + 2]
        raise AipolError(
            f"invalid escape `{found}` in string",
            bad,
            expected=['\\"', "\\\\", "\\/", "\\n", "\\t", "\\r", "\\b", "\\f", "\\uXXXX"],
        ) from None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise AipolError(
            "invalid `\\u` escape: unpaired surrogate",
            span,
            hint="write characters outside the BMP as a pair (`\\ud83d\\ude00`) or as is",
        ) from None
    return ast.Str(value, span)


def format_string(value: str) -> str:
    """Canonical quoting: JSON escapes for quotes, backslashes and anything
    not printable; everything else (including non-ASCII) as is."""
    out = ['"']
    for ch in value:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch.isprintable():
            out.append(ch)
        else:
            code = ord(ch)
            if code > 0xFFFF:
                code -= 0x10000
                out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
            else:
                out.append(f"\\u{code:04x}")
    out.append('"')
    return "".join(out)


# ---------------------------------------------------------------- numbers


def parse_int(token: str, span: Span) -> int:
    return int(token)


def parse_status(token: str, span: Span) -> int:
    code = int(token)
    if not 100 <= code <= 599:
        raise AipolError(f"HTTP status {token} is out of range", span, hint="use 100..599")
    return code


def parse_size(token: str, span: Span) -> ast.Size:
    """``4MiB``, ``1.5GB``, ``512`` (bytes). Units are case-insensitive."""
    number, digits, unit = _split_number(token)
    canon = {u.lower(): u for u in SIZE_UNITS}.get(unit.lower()) if unit else ""
    if canon is None:
        raise _unit_error("size", unit, list(SIZE_UNITS), span, "4MiB")
    factor = SIZE_UNITS.get(canon, 1)
    with localcontext(prec=_PREC):
        value = number * factor
    if value != value.to_integral_value():
        raise AipolError(f"size `{token}` is not a whole number of bytes", span)
    return ast.Size(int(value), canon, span)


def format_size(size: ast.Size) -> str:
    factor = SIZE_UNITS.get(size.unit, 1)
    with localcontext(prec=_PREC):
        return f"{_plain(Decimal(size.bytes) / factor)}{size.unit}"


def parse_duration(token: str, span: Span) -> ast.Duration:
    """``100ms``, ``30s``, ``5m``, ``24h``, ``7d`` (also ``1.5s``)."""
    number, digits, unit = _split_number(token)
    if unit not in DURATION_UNITS:
        raise _unit_error("duration", unit, list(DURATION_UNITS), span, "5m")
    with localcontext(prec=_PREC):
        value = number * DURATION_UNITS[unit]
    if value != value.to_integral_value():
        raise AipolError(f"duration `{token}` is not a whole number of milliseconds", span)
    return ast.Duration(int(value), unit, span)


def format_duration(duration: ast.Duration) -> str:
    """In the unit written; in ``ms`` if that unit cannot show it exactly."""
    factor = DURATION_UNITS.get(duration.unit)
    if factor is None or not _terminates(Fraction(duration.ms, factor)):
        return f"{duration.ms}ms"
    with localcontext(prec=_PREC):
        return f"{_plain(Decimal(duration.ms) / factor)}{duration.unit}"


def parse_money(token: str, span: Span) -> ast.Money:
    return ast.Money(Decimal(token[1:]), span)


def format_money(money: ast.Money) -> str:
    """At least two decimals (``$2.50``), more only if needed (``$0.001``)."""
    amount = money.amount.normalize()
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int)
    if exponent > -2:
        amount = amount.quantize(Decimal("0.01"))
    return f"${amount:f}"


def parse_percent(token: str, span: Span) -> ast.Percent:
    value = Decimal(token[:-1])
    if value > 100:
        raise AipolError(f"percentage `{token}` is over 100%", span)
    return ast.Percent(value, span)


def format_percent(percent: ast.Percent) -> str:
    return f"{_plain(percent.value)}%"


def parse_count(token: str, span: Span) -> ast.Count:
    """``1K`` -> 1000, ``1M`` -> 1000000, ``500`` -> 500."""
    _, digits, suffix = _split_number(token)
    factor = COUNT_SUFFIXES.get(suffix.upper())
    if factor is None:
        raise AipolError(
            f"unknown token count suffix `{suffix}`",
            span,
            expected=["1K", "1M"],
            hint="write `per 1M tokens` or `per 1K tokens`",
        )
    value = int(digits) * factor
    if value == 0:
        raise AipolError("token count must be positive", span)
    return ast.Count(value, span)


def format_count(count: ast.Count) -> str:
    for suffix in ("M", "K"):
        factor = COUNT_SUFFIXES[suffix]
        if count.value % factor == 0:
            return f"{count.value // factor}{suffix}"
    return str(count.value)


_DECIMAL_RE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?\Z")


def parse_number(token: str, span: Span) -> Decimal:
    """A plain decimal for ``param`` checks: ``1000``, ``1.5``, ``-2``."""
    if not _DECIMAL_RE.match(token):
        raise AipolError(
            f"invalid number `{token}`",
            span,
            hint="write a plain number such as `1000`, `0.5` or `-2` (no unit or exponent)",
        )
    return Decimal(token)


def format_number(value: Decimal) -> str:
    """``Decimal("1.50")`` -> ``1.5``; ``Decimal("1E+3")`` -> ``1000``."""
    return "0" if value.is_zero() else _plain(value)


def _terminates(q: Fraction) -> bool:
    """Whether ``q`` has a finite decimal expansion (denominator 2^a 5^b)."""
    d = q.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    return d == 1


def _plain(number: Decimal) -> str:
    """``Decimal`` without exponent or trailing zeros: 4, 1.5, 0.25."""
    with localcontext(prec=_PREC):
        return f"{number.normalize():f}"


# ---------------------------------------------------------------- address


def parse_address(token: str, span: Span) -> ast.Address:
    """``0.0.0.0:8080``, ``localhost:8080``, ``[::1]:9901``."""
    if token.startswith("["):
        close = token.find("]")
        host, rest = token[1:close], token[close + 1 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise AipolError(f"invalid IPv6 address `{host}`", span) from None
    else:
        host, _, port_text = token.partition(":")
        rest = token[len(host) :]
        if re.fullmatch(r"[0-9.]+", host):
            try:
                ipaddress.IPv4Address(host)
            except ValueError:
                raise AipolError(f"invalid IPv4 address `{host}`", span) from None
        elif not all(_HOSTNAME_RE.match(label) for label in host.split(".")):
            raise AipolError(
                f"invalid host name `{host}`",
                span,
                hint="an address is an IPv4 address, a host name, or [IPv6], then `:port`",
            )
    if not rest:
        raise AipolError(f"address `{token}` has no port", span, hint=f"write it as `{token}:PORT`")
    port_text = rest[1:]
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise AipolError(
            f"invalid port `{port_text}`" if port_text else f"address `{token}` has no port",
            span,
            hint="a port is a number from 1 to 65535",
        )
    return ast.Address(host, int(port_text), span)


def format_address(address: ast.Address) -> str:
    host = f"[{address.host}]" if ":" in address.host else address.host
    return f"{host}:{address.port}"


# ------------------------------------------------------------------ regex


def parse_regex(token: str, span: Span) -> ast.Regex:
    """``/pattern/flags``; flags are letters among ``i m s``. Only ``\\/`` is
    unescaped; the pattern itself is checked by whoever compiles it."""
    end = token.rindex("/")
    body, flags = token[1:end], token[end + 1 :]
    if set(flags) - set("ims") or len(set(flags)) != len(flags):
        raise AipolError(f"invalid regex flags `{flags}`", span, expected=["i", "m", "s"])
    out: list[str] = []
    i = 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            out.append("/" if body[i + 1] == "/" else body[i : i + 2])
            i += 2
        else:
            out.append(body[i])
            i += 1
    return ast.Regex("".join(out), "".join(sorted(flags)), span)


def format_regex(regex: ast.Regex) -> str:
    out: list[str] = []
    pattern = regex.pattern
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            out.append(pattern[i : i + 2])
            i += 2
        else:
            out.append("\\/" if pattern[i] == "/" else pattern[i])
            i += 1
    return "/" + "".join(out) + "/" + regex.flags


# ------------------------------------------------------------------ names


def format_name(name: ast.Name) -> str:
    return name.value


__all__ = [
    "HTTP_METHODS",
    "IDENT_RE",
    "SIZE_UNITS",
    "DURATION_UNITS",
    "parse_string",
    "format_string",
    "parse_int",
    "parse_status",
    "parse_size",
    "format_size",
    "parse_duration",
    "format_duration",
    "parse_money",
    "format_money",
    "parse_percent",
    "format_percent",
    "parse_count",
    "format_count",
    "parse_number",
    "format_number",
    "parse_address",
    "format_address",
    "parse_regex",
    "format_regex",
    "format_name",
]
