"""Bulk import: needs, research outputs and participations from a partner's CSV or JSONL
export, published onto the partner topics exactly as a partner system would.

Usage
-----

    python -m services.intake.importer FILE --partner PARTNER_ID \\
        --kind needs|research-outputs|participations \\
        [--format csv|jsonl] [--encoding auto|utf-8|cp1252] [--batch-size 500] \\
        [--bootstrap-servers HOST:PORT] [--namespace NS] [--own-topic] [--restart] [--no-progress]

    python -m services.intake.importer needs.csv --partner iuc-smaland --kind needs

Each valid row becomes one CloudEvent (`ce_source=/partners/PARTNER_ID`) on the kind's
partner topic (`partner.needs.v1`, `partner.research-outputs.v1`,
`partner.participations.v1`; with --own-topic the partner's own `partner.<id>.needs.v1` …,
for a partner whose source intake trusts only there), keyed as the topic registry says. Intake then checks it as
it checks anything a partner sends (scope, county, conflicts) and dead-letters what it
refuses, with the reason, on `redthread.dead-letters.v1`.

The file
    --format defaults from the extension (.csv, .jsonl/.ndjson). JSONL: one JSON object per
    line, the contract model as is (`contracts/events.py`). CSV: one column per field, the
    header names being dotted paths into the model: `company.org_number`, `coach.email`,
    `contact_researchers.0.name`, `initiative.initiative_id` … List fields (focus_areas,
    keywords, links) hold their items separated by ";". An empty cell means "not given".
    The delimiter (";" as Swedish Excel writes it, ",", tab) is taken from the header
    line, or from an Excel `sep=;` first line. A UTF-8 BOM and blank rows are fine; a file
    that is not UTF-8 is read as Windows-1252 (Excel's plain "CSV" export) unless
    --encoding says otherwise.

    A row without need_id / output_id / participation_id gets one derived from the
    partner and the row's content, so importing the same rows again creates nothing new.
    To change something already imported, send an update with a higher revision over
    HTTP or Kafka; an import only creates.

What it writes next to FILE
    FILE.errors.csv          one line per problem: row, field (dotted path, e.g.
                             company.org_number), message, value. Invalid rows are not
                             sent. "row" counts as a spreadsheet does (the header is row
                             1) for CSV, and is the line number for JSONL. Rewritten on
                             every run; removed when there is nothing to report.
    FILE.import-state.json   the checkpoint: the file's SHA-256, partner, kind, topic and
                             the row up to which the broker has acknowledged everything.

Interruption and resumption
    Rows are sent in batches (--batch-size); after the broker acknowledged a whole batch
    the checkpoint is written. Ctrl-C waits for what is in flight, writes the checkpoint
    and exits with 130; running the same command again skips the rows already
    acknowledged. Every event's id is derived from the file's hash and the row number, so
    a row sent twice (a crash between the broker's acknowledgement and the checkpoint) is
    recognised by intake as the same event and changes nothing. When FILE changed since
    the checkpoint, the importer refuses to resume; --restart imports it from the first
    row (rows whose content intake already has change nothing).

Exit codes
    0 every row was sent (or had been), 1 some rows were invalid (see FILE.errors.csv),
    2 usage error (arguments, unreadable file, a header that does not fit the kind, a
    checkpoint that does not fit the file), 3 the broker could not be reached or did not
    acknowledge (the checkpoint is kept; run again to resume), 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import contextlib
import csv
import hashlib
import json
import os
import re
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, TextIO, Union, get_args, get_origin
from uuid import UUID, uuid5

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from contracts.envelope import derived_event_id, encode, new_event
from contracts.events import Contract, NeedSubmitted, ParticipationRecorded, ResearchOutputPublished
from contracts.topics import (
    PARTNER_ID,  # partner ids that can be Kafka principals (docs/partner-access.md)
    PARTNER_NEEDS,
    PARTNER_PARTICIPATIONS,
    PARTNER_RESEARCH_OUTPUTS,
    Topic,
)
from contracts.topics import own_topic as own_topic_of
from services.common.kafka_security import ADMIN, client_options
from services.common.settings import Settings
from services.intake.acceptance import Refusal, complete_company, partition_key
from services.intake.partners import PARTNER_SOURCE_PREFIX

EXIT_OK = 0
EXIT_INVALID_ROWS = 1
EXIT_USAGE = 2
EXIT_BROKER = 3
EXIT_INTERRUPTED = 130

# Ids of rows that come without one: uuid5 in this namespace of partner, kind and content.
IMPORTED_ID_NAMESPACE = UUID("5b0e6f3a-6d1c-4f7e-9a42-1c7d2b8e4f90")
LIST_SEPARATOR = ";"
DELIMITERS = (";", ",", "\t", "|")
EXCEL_SEP_LINE = re.compile(r"^sep=(.)\s*$")


@dataclass(frozen=True)
class Kind:
    """What one --kind imports: its contract, the partner topic and the id field."""

    name: str
    model: type[Contract]
    topic: Topic
    id_field: str


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("needs", NeedSubmitted, PARTNER_NEEDS, "need_id"),
        Kind("research-outputs", ResearchOutputPublished, PARTNER_RESEARCH_OUTPUTS, "output_id"),
        Kind("participations", ParticipationRecorded, PARTNER_PARTICIPATIONS, "participation_id"),
    )
}
FORMATS_BY_SUFFIX = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


class ImportUsageError(Exception):
    """The command cannot run as given (exit code 2)."""


class ImportFailed(Exception):
    """The broker could not be reached or did not acknowledge (exit code 3)."""


class HeaderError(ImportUsageError):
    """The CSV header does not fit the kind's model; one message per bad column."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("the header does not fit: " + "; ".join(messages))
        self.messages = messages


# --- reading rows (pure: text in, dicts and problems out) ------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a row: where (a dotted path; empty for the whole row) and why."""

    field: str
    message: str
    value: str = ""


@dataclass(frozen=True)
class RawRow:
    """A row as read from the file: the model's input, or why it could not be read."""

    row: int
    data: dict[str, Any] | None
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class Column:
    index: int
    name: str
    path: tuple[str | int, ...]
    is_list: bool  # a list of plain values, given as "a;b;c" in one cell


@dataclass(frozen=True)
class Header:
    columns: tuple[Column, ...]
    width: int


def _unwrap(annotation: Any) -> Any:
    """The type inside Annotated[...] and Optional[...]."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, UnionType):
            args = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _example_field(model: type[BaseModel]) -> str:
    return next(iter(model.model_fields))


def resolve_column(model: type[BaseModel], name: str) -> tuple[tuple[str | int, ...], bool]:
    """The path of a dotted column name into `model`, and whether the column is a list of
    plain values; ValueError saying what is wrong with the name."""
    parts = name.split(".")
    annotation: Any = model
    path: list[str | int] = []
    for position, part in enumerate(parts):
        annotation = _unwrap(annotation)
        prefix = ".".join(parts[:position])
        if _is_model(annotation):
            found = annotation.model_fields.get(part)
            if found is None:
                where = f"{prefix} has" if prefix else "the record has"
                raise ValueError(
                    f"unknown column {name!r}: {where} no field {part!r} "
                    f"(fields: {', '.join(annotation.model_fields)})"
                )
            annotation = found.annotation
            path.append(part)
        elif get_origin(annotation) is list:
            if not part.isdigit():
                raise ValueError(f"column {name!r}: {prefix} is a list; name its items {prefix}.0, {prefix}.1 …")
            annotation = get_args(annotation)[0]
            path.append(int(part))
        else:
            raise ValueError(f"column {name!r}: {prefix} is a single value and has no field {part!r}")
    annotation = _unwrap(annotation)
    if get_origin(annotation) is list:
        item = _unwrap(get_args(annotation)[0])
        if _is_model(item):
            raise ValueError(
                f"column {name!r} is a list of records: give one column per item and field, "
                f"e.g. {name}.0.{_example_field(item)}"
            )
        return tuple(path), True
    if _is_model(annotation):
        raise ValueError(
            f"column {name!r} is a record: give one column per field, e.g. {name}.{_example_field(annotation)}"
        )
    return tuple(path), False


def parse_header(cells: list[str], model: type[BaseModel]) -> Header:
    """The columns of a CSV header; HeaderError listing every column that does not fit.
    Columns without a name (Excel's trailing delimiters) are ignored while empty."""
    columns: list[Column] = []
    messages: list[str] = []
    seen: set[str] = set()
    for index, cell in enumerate(cells):
        name = cell.strip().lstrip("\ufeff").strip()
        if not name:
            continue
        if name in seen:
            messages.append(f"column {name!r} appears twice")
            continue
        seen.add(name)
        try:
            path, is_list = resolve_column(model, name)
        except ValueError as error:
            messages.append(str(error))
            continue
        columns.append(Column(index, name, path, is_list))
    for column in columns:
        for other in columns:
            if other is not column and other.path[: len(column.path)] == column.path:
                messages.append(f"columns {column.name!r} and {other.name!r} overlap: use one or the other")
    if not columns and not messages:
        messages.append("the header row names no columns")
    if messages:
        raise HeaderError(messages)
    return Header(tuple(columns), len(cells))


def _put(target: dict, path: tuple[str | int, ...], value: object) -> None:
    for part in path[:-1]:
        target = target.setdefault(part, {})
    target[path[-1]] = value


def _listify(value: object) -> object:
    """Nested dicts with integer keys (list items from `x.0.y` columns) become lists, in
    index order; items left out altogether are simply not there."""
    if not isinstance(value, dict):
        return value
    converted = {key: _listify(item) for key, item in value.items()}
    if converted and all(isinstance(key, int) for key in converted):
        return [converted[key] for key in sorted(converted)]
    return converted


def split_list(cell: str) -> list[str]:
    return [item.strip() for item in cell.split(LIST_SEPARATOR) if item.strip()]


def row_to_data(header: Header, cells: list[str]) -> tuple[dict[str, Any], list[Problem]]:
    """One CSV record as the model's input: dotted columns nested, lists split, empty
    cells left out (so the model's default applies, or "field required")."""
    data: dict[str | int, Any] = {}
    problems: list[Problem] = []
    named = {column.index for column in header.columns}
    for index, cell in enumerate(cells):
        if index not in named and cell.strip():
            problems.append(
                Problem("", f"cell {index + 1} has a value but no column name in the header", cell.strip()[:200])
            )
    for column in header.columns:
        cell = cells[column.index].strip() if column.index < len(cells) else ""
        if not cell:
            continue
        value: object = split_list(cell) if column.is_list else cell
        if value == []:
            continue
        _put(data, column.path, value)
    return _listify(data), problems  # type: ignore[return-value]


def sniff_delimiter(header_line: str) -> str:
    """The delimiter of a CSV file from its header line: column names are dotted paths and
    never contain one, so the most frequent candidate is it (a single column: ",")."""
    counts = {candidate: header_line.count(candidate) for candidate in DELIMITERS}
    best = max(DELIMITERS, key=lambda candidate: counts[candidate])  # ties: the earlier one
    return best if counts[best] else ","


class CsvRows:
    """The rows of a CSV export. Reads the header at once (HeaderError when it does not
    fit the model); iterating yields a RawRow per non-blank record, numbered as a
    spreadsheet numbers rows (the header is row 1, unless blank lines precede it)."""

    def __init__(self, lines: Iterable[str], model: type[BaseModel], delimiter: str | None = None) -> None:
        lines = iter(lines)
        number = 0
        first: str | None = None
        for line in lines:
            number += 1
            if number == 1:
                line = line.lstrip("\ufeff")
            if not line.strip():
                continue
            excel_sep = EXCEL_SEP_LINE.match(line)
            if excel_sep and first is None and delimiter is None:
                delimiter = excel_sep.group(1)
                continue
            first = line
            break
        if first is None:
            raise HeaderError(["the file is empty: expected a header row naming the columns"])
        self.delimiter = delimiter or sniff_delimiter(first)
        self._reader = csv.reader(_chain_first(first, lines), delimiter=self.delimiter)
        self.header = parse_header(next(self._reader), model)
        self._header_row = number

    def __iter__(self) -> Iterator[RawRow]:
        number = self._header_row
        while True:
            number += 1
            try:
                cells = next(self._reader)
            except StopIteration:
                return
            except csv.Error as error:
                yield RawRow(number, None, (Problem("", f"not readable as CSV: {error}"),))
                continue
            if not any(cell.strip() for cell in cells):
                continue  # blank, or only delimiters (";;;;" as Excel writes an empty row)
            data, problems = row_to_data(self.header, cells)
            yield RawRow(number, data, tuple(problems))


def _chain_first(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


def jsonl_rows(lines: Iterable[str]) -> Iterator[RawRow]:
    """A RawRow per non-blank line of a JSONL export; `row` is the line number."""
    for number, line in enumerate(lines, start=1):
        if number == 1:
            line = line.lstrip("\ufeff")
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            yield RawRow(number, None, (Problem("", f"not valid JSON: {error.msg} at column {error.colno}"),))
            continue
        if not isinstance(value, dict):
            yield RawRow(number, None, (Problem("", f"expected a JSON object, got {type(value).__name__}"),))
            continue
        yield RawRow(number, value)


def with_id(data: dict[str, Any], kind: Kind, partner: str) -> dict[str, Any]:
    """The row with its aggregate id; a row without one gets an id derived from the
    partner and its content, so the same row imported again is the same aggregate."""
    if data.get(kind.id_field) not in (None, ""):
        return data
    content = {key: value for key, value in data.items() if key != kind.id_field}
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return {**content, kind.id_field: str(uuid5(IMPORTED_ID_NAMESPACE, f"{partner}|{kind.name}|{canonical}"))}


def _message(error: dict[str, Any]) -> str:
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _shown(value: object) -> str:
    if isinstance(value, (str, int, float, bool)):
        return str(value)[:200]
    return ""


def problems_of(error: ValidationError) -> list[Problem]:
    return [
        Problem(".".join(map(str, e["loc"])), _message(e), _shown(e.get("input")) if e["type"] != "missing" else "")
        for e in error.errors()
    ]


def validate_row(kind: Kind, data: dict[str, Any]) -> tuple[Contract | None, list[Problem]]:
    """The row as its contract model, or the problems that stop it: the model's rules,
    and whether intake can place the company (county and municipality)."""
    try:
        model = kind.model.model_validate(data)
    except ValidationError as error:
        return None, problems_of(error)
    company = getattr(model, "company", None)
    try:
        complete_company(company)
    except Refusal as refusal:
        return None, [Problem(location, message) for location, message in refusal.problems] or [
            Problem("company", refusal.reason)
        ]
    return model, []


def check_row(
    raw: RawRow, kind: Kind, partner: str, seen_ids: dict[str, int]
) -> tuple[Contract | None, list[Problem]]:
    """The row's model, or its problems; an id already used by an earlier row of the file
    is a problem too (the same row twice, or two rows claiming one aggregate)."""
    if raw.data is None:
        return None, list(raw.problems)
    model, problems = validate_row(kind, with_id(raw.data, kind, partner))
    if model is None or raw.problems:
        return None, [*raw.problems, *problems]
    aggregate = str(getattr(model, kind.id_field))
    first = seen_ids.setdefault(aggregate, raw.row)
    if first != raw.row:
        why = f"the same {kind.id_field} as row {first} (or, without one, the same content)"
        return None, [Problem(kind.id_field, why, aggregate)]
    return model, []


def format_of(path: Path, given: str | None) -> str:
    if given:
        if given not in ("csv", "jsonl"):
            raise ImportUsageError(f"unknown format {given!r}: csv or jsonl")
        return given
    found = FORMATS_BY_SUFFIX.get(path.suffix.lower())
    if found is None:
        raise ImportUsageError(f"cannot tell the format of {path.name} from its extension: give --format csv or jsonl")
    return found


def kind_of(name: str | Kind) -> Kind:
    if isinstance(name, Kind):
        return name
    try:
        return KINDS[name]
    except KeyError:
        raise ImportUsageError(f"unknown kind {name!r}: {', '.join(KINDS)}") from None


# --- the file, its checkpoint and its error report -------------------------------------


def fingerprint(path: Path) -> tuple[str, bool]:
    """SHA-256 of the file's bytes, and whether they are valid UTF-8."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8 = True
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
            if utf8:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = False
    if utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
    return digest.hexdigest(), utf8


def state_path_of(path: Path) -> Path:
    return path.with_name(path.name + ".import-state.json")


def report_path_of(path: Path) -> Path:
    return path.with_name(path.name + ".errors.csv")


@dataclass
class Checkpoint:
    sha256: str
    partner: str
    kind: str
    topic: str
    through_row: int = 0  # every row up to this one is acknowledged by the broker or invalid
    rows_acknowledged: int = 0
    complete: bool = False
    updated_at: str = ""

    @classmethod
    def load(cls, path: Path) -> Checkpoint | None:
        if not path.exists():
            return None
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, TypeError) as error:
            raise ImportUsageError(
                f"{path} is not a checkpoint this importer can read ({error}); "
                "delete it or run with --restart to import from the first row"
            ) from None

    def save(self, path: Path) -> None:
        self.updated_at = datetime.now(UTC).isoformat(timespec="seconds")
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, path)


class ErrorReport:
    """FILE.errors.csv, one line per problem. Written with the input's delimiter and a BOM,
    so that the Excel the file came from opens it in columns and with å, ä and ö."""

    HEADER = ("row", "field", "message", "value")

    def __init__(self, path: Path, delimiter: str) -> None:
        self.path = path
        self._delimiter = delimiter
        self._stream = None
        self._writer = None
        self.lines = 0

    def add(self, row: int, problems: Iterable[Problem]) -> None:
        if self._writer is None:
            self._stream = self.path.open("w", encoding="utf-8-sig", newline="")
            self._writer = csv.writer(self._stream, delimiter=self._delimiter)
            self._writer.writerow(self.HEADER)
        for problem in problems:
            self._writer.writerow((row, problem.field, problem.message, problem.value))
            self.lines += 1

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        elif self.path.exists():
            self.path.unlink()  # a report from an earlier run that no longer applies


# --- the import ------------------------------------------------------------------------


@dataclass
class ImportSummary:
    file: Path
    partner: str
    kind: str
    topic: str
    rows_read: int = 0
    sent: int = 0
    invalid: int = 0
    skipped: int = 0
    problems: int = 0
    error_report: Path | None = None
    checkpoint: Path | None = None
    resumed_after_row: int = 0
    through_row: int = 0
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_INVALID_ROWS if self.invalid else EXIT_OK

    def lines(self) -> list[str]:
        out = [f"{self.file.name} → {self.topic} as /partners/{self.partner} ({self.kind})"]
        out.append(f"  rows read  {self.rows_read:>7}")
        out.append(f"  sent       {self.sent:>7}   acknowledged by the broker")
        skipped = f"  skipped    {self.skipped:>7}"
        if self.skipped:
            skipped += f"   already imported (up to row {self.resumed_after_row}, see {self.checkpoint})"
        out.append(skipped)
        invalid = f"  invalid    {self.invalid:>7}"
        if self.error_report:
            invalid += f"   not sent; {self.problems} problem(s) in {self.error_report}"
        out.append(invalid)
        if self.rows_read and self.skipped == self.rows_read - self.invalid and not (self.sent or self.interrupted):
            out.append("Nothing new to send: every valid row had been imported before.")
        if self.interrupted:
            out.append(
                f"Interrupted: everything up to row {self.through_row} is acknowledged and recorded in "
                f"{self.checkpoint}. Run the same command again to resume from there."
            )
        if self.sent:
            read_back = (
                f", and accepted rows can be read back with GET /v1/{self.kind}/{{id}} from intake"
                if self.kind in ("needs", "research-outputs")
                else ""
            )
            out.append(
                "Intake checks every row again (partner scope, companies, conflicts with what it already has); "
                f"what it refuses goes to redthread.dead-letters.v1 with the reason{read_back}."
            )
        return out


def _open_text(path: Path, encoding: str) -> TextIO:
    return path.open("r", encoding=encoding, newline="", errors="strict")


def _rows(stream: Iterable[str], fmt: str, kind: Kind) -> tuple[Iterator[RawRow], str]:
    if fmt == "csv":
        rows = CsvRows(stream, kind.model)
        return iter(rows), rows.delimiter
    return jsonl_rows(stream), ","


def _count_rows(path: Path, fmt: str, kind: Kind, encoding: str) -> int:
    with _open_text(path, encoding) as stream:
        rows, _ = _rows(stream, fmt, kind)
        return sum(1 for _ in rows)


class RowsPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:,.0f} rows/s" if task.speed else "– rows/s", style="progress.data.speed")


def _progress(console: Console, total: int, description: str) -> tuple[Progress, TaskID]:
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        RowsPerSecond(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    )
    return progress, progress.add_task(description, total=total)


class _NoProgress:
    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def advance(self, task: object, advance: int = 1) -> None:
        return None


def _producer(settings: Settings, partner: str) -> AIOKafkaProducer:
    # An operator's tool: as admin, unless REDTHREAD_KAFKA_PRINCIPAL says otherwise (a
    # partner importing into its own topics with its own password).
    return AIOKafkaProducer(
        **client_options(settings, ADMIN),
        client_id=f"redthread-importer-{partner}",
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        max_batch_size=256 * 1024,
    )


async def run_import(
    path: str | Path,
    *,
    partner: str,
    kind: str | Kind,
    settings: Settings | None = None,
    own_topic: bool = False,
    fmt: str | None = None,
    encoding: str = "auto",
    batch_size: int = 500,
    restart: bool = False,
    show_progress: bool = False,
    handle_signals: bool = False,
    on_row: Callable[[int, str], None] | None = None,
    console: Console | None = None,
) -> ImportSummary:
    """Import `path`; see the module's docstring. Raises ImportUsageError (exit 2) and
    ImportFailed (exit 3); an interruption (Ctrl-C, SIGTERM, or KeyboardInterrupt from
    `on_row`) returns a summary with `interrupted` set, after the checkpoint is written.

    `own_topic` sends to the partner's own topic of the kind instead of the shared one.
    `on_row(row, outcome)` is called for every row, with "sent" (handed to the producer),
    "invalid" or "skipped"."""
    path = Path(path)
    kind = kind_of(kind)
    if not PARTNER_ID.match(partner):
        raise ImportUsageError(
            f"partner id {partner!r}: lower-case letters, digits and '-' only, at most 63 (docs/partner-access.md)"
        )
    if batch_size < 1:
        raise ImportUsageError("--batch-size must be at least 1")
    if not path.is_file():
        raise ImportUsageError(f"{path} is not a file")
    fmt = format_of(path, fmt)
    settings = settings or Settings()
    shared_topic = settings.topic(kind.topic.name)
    partners_topic = settings.topic(own_topic_of(kind.topic, partner))
    topic = partners_topic if own_topic else shared_topic
    source = PARTNER_SOURCE_PREFIX + partner
    console = console or Console(stderr=True)

    sha256, is_utf8 = fingerprint(path)
    if encoding == "auto":
        encoding = "utf-8" if is_utf8 else "cp1252"
        if not is_utf8:
            console.print(f"{path.name} is not UTF-8: read as Windows-1252 (Excel's plain CSV); --encoding overrides")
    else:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ImportUsageError(f"unknown encoding {encoding!r}") from None

    state_path = state_path_of(path)
    previous = None if restart else Checkpoint.load(state_path)
    if previous is not None:
        if previous.sha256 != sha256:
            raise ImportUsageError(
                f"{path.name} changed since the import recorded in {state_path.name} (rows up to "
                f"{previous.through_row} were sent from the earlier version). Run with --restart to import it "
                "from the first row: rows intake already has with the same content change nothing."
            )
        if (previous.partner, previous.kind, previous.topic) != (partner, kind.name, topic):
            raise ImportUsageError(
                f"{state_path.name} records an import of this file as partner {previous.partner}, kind "
                f"{previous.kind}, onto {previous.topic}; run with --restart to import it again as given"
            )
    resume_after = previous.through_row if previous else 0
    checkpoint = Checkpoint(sha256, partner, kind.name, topic, through_row=resume_after)

    try:
        stream = _open_text(path, encoding)
    except OSError as error:
        raise ImportUsageError(f"cannot read {path}: {error.strerror}") from None
    try:
        rows, delimiter = _rows(stream, fmt, kind)
    except UnicodeDecodeError as error:
        stream.close()
        raise ImportUsageError(f"{path.name} is not {encoding}: {error}; give --encoding") from None
    except HeaderError as error:
        stream.close()
        raise HeaderError([f"{path.name}: {message}" for message in error.messages]) from None

    summary = ImportSummary(
        path, partner, kind.name, topic, checkpoint=state_path, resumed_after_row=resume_after, through_row=resume_after
    )
    if resume_after:
        console.print(
            f"resuming: rows up to {resume_after} of {path.name} were acknowledged in an earlier run "
            f"({state_path.name}); they are skipped"
        )
    report = ErrorReport(report_path_of(path), delimiter)
    producer = _producer(settings, partner)
    pending: list[tuple[int, asyncio.Future]] = []
    seen_ids: dict[str, int] = {}
    last_read = 0
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[int] = []

    async def flush() -> None:
        """Wait for every record in flight; advance the checkpoint over what is acknowledged."""
        nonlocal pending
        batch, pending = pending, []
        results = await asyncio.gather(*(future for _, future in batch), return_exceptions=True)
        failed: tuple[int, BaseException] | None = None
        for (row, _), result in zip(batch, results):
            if isinstance(result, BaseException):
                failed = failed or (row, result)
            else:
                summary.sent += 1
        through = last_read if failed is None else failed[0] - 1
        checkpoint.through_row = max(checkpoint.through_row, through)
        checkpoint.rows_acknowledged = summary.skipped + summary.sent
        checkpoint.save(state_path)
        summary.through_row = checkpoint.through_row
        if failed is not None:
            raise ImportFailed(
                f"the broker did not acknowledge row {failed[0]}: {failed[1]!r}. Everything up to row "
                f"{checkpoint.through_row} is recorded in {state_path.name}; run the same command again to resume."
            )

    def on_signal() -> None:
        if stop.is_set():  # the second time: give up waiting
            console.print("aborting without waiting for the broker")
            task.cancel()
            return
        stop.set()
        console.print("stopping: waiting for the broker to acknowledge what was sent (Ctrl-C again aborts) …")

    try:
        try:
            await producer.start()
            cluster = await producer.client.fetch_all_metadata()
        except Exception as error:  # noqa: BLE001 - the broker is unreachable
            raise ImportFailed(f"cannot reach the broker at {settings.kafka_bootstrap_servers}: {error!r}") from None
        if topic not in cluster.topics():
            raise ImportFailed(
                f"topic {topic} does not exist on {settings.kafka_bootstrap_servers} (or this client may not see "
                "it): is the namespace right?" + ("" if own_topic else f" Does {partner} send on its own topics?")
            )
        if not own_topic and partners_topic in cluster.topics():
            console.print(
                f"note: {partners_topic} exists; if {partner} sends on its own topics, intake refuses what "
                f"comes on {shared_topic}: use --own-topic"
            )

        task = asyncio.current_task()
        if handle_signals:
            for signum in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.add_signal_handler(signum, on_signal)
                    installed.append(signum)

        progress_bar: Any = _NoProgress()
        task_id = None
        if show_progress:
            try:
                total = _count_rows(path, fmt, kind, encoding)
            except UnicodeDecodeError as error:
                raise ImportUsageError(f"{path.name} is not {encoding}: {error}; give --encoding") from None
            progress_bar, task_id = _progress(console, total, path.name)

        with progress_bar:
            try:
                for raw in rows:
                    if stop.is_set():
                        raise KeyboardInterrupt
                    summary.rows_read += 1
                    model, problems = check_row(raw, kind, partner, seen_ids)
                    if model is None:
                        summary.invalid += 1
                        report.add(raw.row, problems)
                        outcome = "invalid"
                    elif raw.row <= resume_after:
                        summary.skipped += 1
                        outcome = "skipped"
                    else:
                        event = new_event(
                            model,
                            source=source,
                            subject=str(getattr(model, kind.id_field)),
                            event_id=derived_event_id("import", sha256, raw.row),
                        )
                        value, headers = encode(event)
                        try:
                            future = await producer.send(
                                topic,
                                value=value,
                                key=partition_key(model).encode(),
                                headers=[(name, text.encode()) for name, text in headers.items()],
                            )
                        except MessageSizeTooLargeError as error:
                            summary.invalid += 1
                            too_large = Problem("", f"too large for the broker: {error}", f"{len(value)} bytes")
                            report.add(raw.row, [too_large])
                            outcome = "invalid"
                        except KafkaError as error:
                            raise ImportFailed(
                                f"could not send row {raw.row}: {error!r}. Everything up to row "
                                f"{checkpoint.through_row} is recorded in {state_path.name}; run the same command "
                                "again to resume."
                            ) from None
                        else:
                            pending.append((raw.row, future))
                            outcome = "sent"
                    last_read = raw.row
                    progress_bar.advance(task_id)
                    if on_row is not None:
                        on_row(raw.row, outcome)
                    if len(pending) >= batch_size:
                        await flush()
                    elif summary.rows_read % 256 == 0:
                        await asyncio.sleep(0)  # let a Ctrl-C be noticed while skipping
            except KeyboardInterrupt:
                summary.interrupted = True
            except UnicodeDecodeError as error:
                raise ImportUsageError(f"{path.name} is not {encoding}: {error}; give --encoding") from None
            await flush()
        if not summary.interrupted:
            checkpoint.through_row = max(checkpoint.through_row, last_read)
            checkpoint.complete = True
            checkpoint.save(state_path)
            summary.through_row = checkpoint.through_row
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
        stream.close()
        report.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(producer.stop(), timeout=15)

    if report.lines:
        summary.error_report = report.path
        summary.problems = report.lines
    return summary


# --- the command line ------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m services.intake.importer",
        description="Import needs, research outputs or participations from a partner's CSV or JSONL export "
        "onto redthread's partner topics, resumably and without duplicates.",
        epilog="Exit codes: 0 all sent, 1 some rows invalid (see FILE.errors.csv), 2 usage error, "
        "3 broker unreachable or not acknowledging (run again to resume), 130 interrupted (run again to resume).",
    )
    parser.add_argument("file", type=Path, metavar="FILE")
    parser.add_argument("--partner", required=True, metavar="PARTNER_ID", help="the partner the rows come from")
    parser.add_argument("--kind", required=True, choices=list(KINDS))
    parser.add_argument("--format", choices=("csv", "jsonl"), help="default: from the file's extension")
    parser.add_argument(
        "--encoding", default="auto", help="default auto: UTF-8 (with or without BOM), else Windows-1252"
    )
    parser.add_argument("--batch-size", type=int, default=500, help="records per acknowledged batch (default 500)")
    parser.add_argument("--bootstrap-servers", help="default: REDTHREAD_KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:9092")
    parser.add_argument("--namespace", help="topic prefix (default: REDTHREAD_NAMESPACE, usually none)")
    parser.add_argument(
        "--own-topic",
        action="store_true",
        help="send to the partner's own topic (partner.<id>.needs.v1 …) instead of the shared partner topic",
    )
    parser.add_argument("--restart", action="store_true", help="ignore the checkpoint and import from the first row")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings()
    updates = {}
    if args.bootstrap_servers:
        updates["kafka_bootstrap_servers"] = args.bootstrap_servers
    if args.namespace is not None:
        updates["namespace"] = args.namespace
    settings = settings.model_copy(update=updates)
    try:
        summary = asyncio.run(
            run_import(
                args.file,
                partner=args.partner,
                kind=args.kind,
                settings=settings,
                fmt=args.format,
                encoding=args.encoding,
                batch_size=args.batch_size,
                own_topic=args.own_topic,
                restart=args.restart,
                show_progress=not args.no_progress,
                handle_signals=True,
            )
        )
    except ImportUsageError as error:
        if isinstance(error, HeaderError):
            print("error: the header does not fit --kind " + args.kind + ":", file=sys.stderr)
            for message in error.messages:
                print("  " + message, file=sys.stderr)
        else:
            print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ImportFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BROKER
    except (KeyboardInterrupt, asyncio.CancelledError):
        print(
            f"aborted. {state_path_of(args.file).name} (if there is one) records what the broker had acknowledged; "
            "run the same command again to resume — rows sent twice change nothing.",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    print("\n".join(summary.lines()))
    return summary.exit_code


if __name__ == "__main__":
    sys.exit(main())
