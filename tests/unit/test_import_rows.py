"""The bulk importer's reading of partner exports: CSV as Excel writes it and JSONL,
turned into contract models or into problems with their field paths. No I/O."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import pytest

from contracts.events import NeedSubmitted, ParticipationRecorded, ResearchOutputPublished
from services.intake.importer import (
    KINDS,
    CsvRows,
    HeaderError,
    Problem,
    RawRow,
    check_row,
    jsonl_rows,
    parse_header,
    resolve_column,
    sniff_delimiter,
    validate_row,
    with_id,
)

NEEDS = KINDS["needs"]
OUTPUTS = KINDS["research-outputs"]
PARTICIPATIONS = KINDS["participations"]
SAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "demo" / "data" / "import"

NEED_HEADER = "company.org_number;company.name;company.county;title;description;need_type;focus_areas;keywords;min_trl"
A_NEED = "556036-0793;Värnamo Pressgjuteri AB;Jönköpings län;Långa ställtider;Omställning tar två timmar.;process"


def lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def read(text: str, model=NeedSubmitted) -> list:
    return list(CsvRows(lines(text), model))


def model_or_problems(kind, data, partner="iuc-test"):
    return validate_row(kind, with_id(data, kind, partner))


# --- CSV as Excel writes it ----------------------------------------------------------


def test_a_swedish_excel_export_with_bom_semicolons_and_crlf():
    text = "\ufeff" + NEED_HEADER + "\r\n" + A_NEED + ';"P2;P1";ställtid;5\r\n'
    reader = CsvRows(lines(text), NeedSubmitted)
    (row,) = list(reader)

    assert reader.delimiter == ";"
    assert row.row == 2 and row.problems == ()
    assert row.data["company"] == {
        "org_number": "556036-0793",
        "name": "Värnamo Pressgjuteri AB",
        "county": "Jönköpings län",
    }
    need, problems = model_or_problems(NEEDS, row.data)
    assert problems == []
    assert need.company.org_number == "5560360793"
    assert [area.value for area in need.focus_areas] == ["P2", "P1"]
    assert need.min_trl == 5


@pytest.mark.parametrize(
    ("header", "delimiter"),
    [
        ("title;description;need_type", ";"),
        ("title,description,need_type", ","),
        ("title\tdescription\tneed_type", "\t"),
        ("title", ","),
    ],
)
def test_the_delimiter_comes_from_the_header_line(header, delimiter):
    assert sniff_delimiter(header) == delimiter


def test_an_excel_sep_line_names_the_delimiter():
    reader = CsvRows(lines("sep=|\r\ntitle|description|need_type\r\nA|B|process\r\n"), NeedSubmitted)
    (row,) = list(reader)
    assert reader.delimiter == "|"
    assert row.row == 3 and row.data == {"title": "A", "description": "B", "need_type": "process"}


def test_list_cells_are_split_on_semicolons_and_trimmed():
    text = 'title,description,need_type,focus_areas,keywords\nA,B,process,P2 ; P6;,"ställtid ;  SMED;;omställning "\n'
    (row,) = read(text)
    assert row.data["focus_areas"] == ["P2", "P6"]
    assert row.data["keywords"] == ["ställtid", "SMED", "omställning"]


def test_empty_cells_mean_not_given_so_defaults_apply():
    text = NEED_HEADER + ";urgency;coach.name;coach.email\r\n" + A_NEED + ";;  ;;;;\r\n"
    (row,) = read(text)

    assert "focus_areas" not in row.data and "urgency" not in row.data and "coach" not in row.data
    need, problems = model_or_problems(NEEDS, row.data)
    assert problems == []
    assert need.urgency.value == "medium" and need.focus_areas == [] and need.coach is None and need.min_trl is None


def test_dotted_paths_with_indices_build_lists_of_records():
    header = (
        "project;output_type;title;summary;trl;published_at;"
        "contact_researchers.0.name;contact_researchers.0.email;"
        "contact_researchers.1.name;contact_researchers.1.email;contact_researchers.1.orcid;"
        "contact_researchers.2.name;contact_researchers.2.email;links"
    )
    row_text = (
        "P2030: Snabba omställningar;method;SMED-metod;En metod.;7;2026-10-01 09:00;"
        "Anders Berg;anders.berg@example.org;Elin Forsberg;elin@example.org;0000-0002-1825-0097;;;"
        '"https://example.org/a;https://example.org/b"'
    )
    (row,) = read(header + "\n" + row_text + "\n", ResearchOutputPublished)

    assert row.data["contact_researchers"] == [
        {"name": "Anders Berg", "email": "anders.berg@example.org"},
        {"name": "Elin Forsberg", "email": "elin@example.org", "orcid": "0000-0002-1825-0097"},
    ]  # the third researcher's cells are all empty: no third researcher
    output, problems = model_or_problems(OUTPUTS, row.data)
    assert problems == []
    assert output.links == ["https://example.org/a", "https://example.org/b"]
    assert output.trl == 7 and output.published_at.hour == 9


def test_participations_map_nested_records_and_lists_of_coaches():
    header = (
        "company.org_number,company.name,company.county,initiative.initiative_id,initiative.name,"
        "initiative.owner,coaches.0.name,coaches.0.email,started_on,status"
    )
    values = "556036-0793,Värnamo AB,Jönköpings län,pl-1,Utvecklingsprogram,Produktionslyftet,Karin,karin@example.se"
    text = header + "\n" + values + ",2026-01-15,active\n"
    (row,) = read(text, ParticipationRecorded)
    participation, problems = model_or_problems(PARTICIPATIONS, row.data)
    assert problems == []
    assert participation.initiative.initiative_id == "pl-1"
    assert participation.coaches[0].email == "karin@example.se"


def test_blank_rows_are_skipped_and_rows_are_numbered_as_in_a_spreadsheet():
    text = (
        "title;description;need_type\r\n"
        "A;first;process\r\n"
        "\r\n"
        ";;\r\n"  # an empty row as Excel writes it
        'B;"two\r\nlines";process\r\n'
        "C;third;process\r\n"
        "\r\n"
    )
    rows = read(text)
    assert [(r.row, r.data["title"]) for r in rows] == [(2, "A"), (5, "B"), (6, "C")]
    assert rows[1].data["description"] == "two\r\nlines"


def test_a_value_in_a_column_without_a_name_is_a_problem_of_the_row():
    text = "title;description;need_type;\r\nA;B;process;\r\nC;D;process;stray\r\nE;F;process;;extra\r\n"
    rows = read(text)
    assert rows[0].problems == ()
    assert rows[1].problems == (Problem("", "cell 4 has a value but no column name in the header", "stray"),)
    assert rows[2].problems[0].message.startswith("cell 5 has a value")


# --- the header ----------------------------------------------------------------------


def test_a_header_that_does_not_fit_the_model_is_refused_with_every_reason():
    with pytest.raises(HeaderError) as refused:
        parse_header(
            ["titel", "company", "company.org_nummer", "keywords", "keywords.0", "title", "title",
             "contact_researchers"],
            NeedSubmitted,
        )
    messages = refused.value.messages
    assert any("unknown column 'titel'" in m for m in messages)
    assert any("'company' is a record" in m and "company.country" in m for m in messages)
    assert any("company has no field 'org_nummer'" in m for m in messages)
    assert any("'keywords' and 'keywords.0' overlap" in m for m in messages)
    assert any("'title' appears twice" in m for m in messages)
    assert any("'contact_researchers'" in m for m in messages)  # not a field of a need


def test_lists_of_records_need_an_index():
    with pytest.raises(ValueError, match=r"contact_researchers\.0\.name"):
        resolve_column(ResearchOutputPublished, "contact_researchers")
    with pytest.raises(ValueError, match="is a list"):
        resolve_column(ResearchOutputPublished, "contact_researchers.first.name")
    orcid = resolve_column(ResearchOutputPublished, "contact_researchers.3.orcid")
    assert orcid == (("contact_researchers", 3, "orcid"), False)
    assert resolve_column(NeedSubmitted, "keywords") == (("keywords",), True)
    assert resolve_column(NeedSubmitted, "company.org_number") == (("company", "org_number"), False)


def test_an_empty_file_has_no_header():
    with pytest.raises(HeaderError, match="empty"):
        CsvRows(lines("\ufeff\r\n\r\n"), NeedSubmitted)


# --- validation ------------------------------------------------------------------------


def test_an_invalid_org_number_is_reported_at_company_org_number():
    (row,) = read(NEED_HEADER + "\n" + A_NEED.replace("556036-0793", "556036-0794") + "\n")
    need, problems = model_or_problems(NEEDS, row.data)
    assert need is None
    assert problems == [
        Problem("company.org_number", "Swedish organisationsnummer fails its Luhn check digit", "556036-0794")
    ]


def test_missing_required_fields_and_bad_values_are_each_a_problem():
    text = "company.org_number;company.name;need_type;focus_areas;min_trl\n556036-0793;;processs;\"P2;P9\";12\n"
    (row,) = read(text)
    _, problems = model_or_problems(NEEDS, row.data)
    by_field = {p.field: p for p in problems}

    assert set(by_field) == {"company.name", "title", "description", "need_type", "focus_areas.1", "min_trl"}
    assert by_field["title"].message == "Field required" and by_field["title"].value == ""
    assert by_field["need_type"].value == "processs" and "'process'" in by_field["need_type"].message
    assert by_field["min_trl"].value == "12"


def test_a_county_intake_cannot_place_is_found_before_sending():
    (row,) = read(NEED_HEADER + "\n" + A_NEED.replace("Jönköpings län", "Smålands län") + "\n")
    need, problems = model_or_problems(NEEDS, row.data)
    assert need is None
    assert [p.field for p in problems] == ["company.county"]


def test_rows_without_an_id_get_one_from_partner_and_content():
    data = {"title": "A", "description": "B", "need_type": "process", "keywords": ["x", "y"]}
    same_content_other_order = {"keywords": ["x", "y"], "need_type": "process", "description": "B", "title": "A"}
    first = with_id(data, NEEDS, "iuc-smaland")
    again = with_id(same_content_other_order, NEEDS, "iuc-smaland")
    other_partner = with_id(data, NEEDS, "iuc-syd")
    other_content = with_id(data | {"title": "A2"}, NEEDS, "iuc-smaland")
    given = with_id(data | {"need_id": "7b0c4a8e-2f64-4a56-9d5e-0c1f3a9b7e21"}, NEEDS, "iuc-smaland")

    assert UUID(first["need_id"]).version == 5
    assert first["need_id"] == again["need_id"]
    assert len({first["need_id"], other_partner["need_id"], other_content["need_id"]}) == 3
    assert given["need_id"] == "7b0c4a8e-2f64-4a56-9d5e-0c1f3a9b7e21"
    assert "need_id" not in data  # the input is left alone


def test_a_row_repeating_an_earlier_rows_id_or_content_is_a_problem():
    need = {"title": "A", "description": "B", "need_type": "process"}
    explicit = need | {"need_id": "7b0c4a8e-2f64-4a56-9d5e-0c1f3a9b7e21"}
    seen: dict[str, int] = {}
    outcomes = [
        check_row(RawRow(row, data), NEEDS, "iuc-test", seen)
        for row, data in ((2, need), (3, explicit), (4, dict(need)), (5, explicit | {"title": "C"}))
    ]

    assert [model is not None for model, _ in outcomes] == [True, True, False, False]
    assert outcomes[2][1][0].field == "need_id" and "row 2" in outcomes[2][1][0].message
    assert outcomes[3][1] == [
        Problem("need_id", "the same need_id as row 3 (or, without one, the same content)", explicit["need_id"])
    ]


def test_problems_of_reading_and_of_the_model_are_reported_together():
    row = RawRow(9, {"title": "A", "need_type": "process"}, (Problem("", "cell 4 has a value but no column name"),))
    model, problems = check_row(row, NEEDS, "iuc-test", {})
    assert model is None
    assert [p.field for p in problems] == ["", "description"]


# --- JSONL ---------------------------------------------------------------------------


def test_jsonl_lines_are_the_model_json_with_line_numbers():
    text = (
        '\ufeff{"title": "A", "description": "B", "need_type": "process"}\n'
        "\n"
        '{"title": "C", \n'
        "[1, 2]\n"
        '{"title": "D", "description": "E", "need_type": "process", "colour": "red"}\r\n'
    )
    rows = list(jsonl_rows(lines(text)))

    assert [r.row for r in rows] == [1, 3, 4, 5]
    assert rows[0].data == {"title": "A", "description": "B", "need_type": "process"}
    assert rows[1].data is None and rows[1].problems[0].message.startswith("not valid JSON")
    assert rows[2].problems == (Problem("", "expected a JSON object, got list"),)
    _, problems = model_or_problems(NEEDS, rows[3].data)
    assert [(p.field, p.message) for p in problems] == [("colour", "Extra inputs are not permitted")]


# --- the sample files in deploy/demo/data/import/ --------------------------------------


def test_the_sample_needs_csv_reads_as_excel_wrote_it_with_two_bad_rows():
    with (SAMPLES / "needs.csv").open(encoding="utf-8", newline="") as stream:
        reader = CsvRows(stream, NeedSubmitted)
        rows = list(reader)
    checked = {row.row: model_or_problems(NEEDS, row.data) for row in rows}

    assert reader.delimiter == ";"
    assert len(rows) == 8
    bad = {row: sorted(p.field for p in problems) for row, (_, problems) in checked.items() if problems}
    assert bad == {6: ["company.org_number"], 8: ["description", "focus_areas.1"]}


def test_the_sample_research_outputs_are_valid():
    with (SAMPLES / "research_outputs.jsonl").open(encoding="utf-8") as stream:
        rows = list(jsonl_rows(stream))
    assert len(rows) == 4
    assert all(model_or_problems(OUTPUTS, row.data)[1] == [] for row in rows)
