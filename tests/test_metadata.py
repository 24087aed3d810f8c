"""turbodata.metadata (model_json, manifest): CDM metadata parsed into model values.

Every metadata file of the shared fixture corpus is parsed and asserted on; synthetic inputs
cover the metadata cases of docs/lake-format.md section 10 (items 1-9).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from turbodata.lake.storage import LocalLake
from turbodata.metadata.manifest import (
    find_entity_documents,
    load_entity_document,
    load_manifest,
    load_manifests,
    pattern_files,
)
from turbodata.metadata.model_json import (
    SchemaUnavailable,
    Trait,
    find_trait,
    glob_to_regex,
    location_path,
    parse_cdm_type,
    parse_model_json,
    read_traits,
)
from turbodata.model import (
    CdmType,
    Column,
    CsvDialect,
    Model,
    Partition,
    PartitionPattern,
    TableSchema,
)


@pytest.fixture(scope="module")
def real(fixtures_root: Path) -> Path:
    """The public fixture corpus (see `fixtures_root` in conftest.py)."""
    return fixtures_root


def real_model(real: Path, relative: str) -> Model:
    return parse_model_json((real / relative).read_bytes(), relative)


def types_of(table: TableSchema) -> list[tuple[str, CdmType]]:
    return [(column.name, column.cdm_type) for column in table.columns]


def column(table: TableSchema, name: str) -> Column:
    return next(column for column in table.columns if column.name == name)


def model_json(*entities: dict[str, Any], **top: Any) -> bytes:
    return json.dumps({"name": "cdm", "version": "1.0", "entities": list(entities), **top}).encode()


def entity(name: str, *attributes: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"$type": "LocalEntity", "name": name, "attributes": list(attributes), **extra}


def attribute(name: str, data_type: str = "string", **extra: Any) -> dict[str, Any]:
    return {"name": name, "dataType": data_type, **extra}


def one_table(data: bytes, source: str = "model.json") -> TableSchema:
    (table,) = parse_model_json(data, source).tables.values()
    return table


def write(root: Path, files: dict[str, str | bytes | dict[str, Any]]) -> LocalLake:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, dict):
            content = json.dumps(content)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return LocalLake(root)


# ---------------------------------------------------------------------------------------------
# model.json fixtures

CDS = "cdm-objectmodel-testdata/modeljson-cds-resolved-traits/model.json"


def test_cds_model_with_bom_and_mixed_traits(real: Path) -> None:
    assert (real / CDS).read_bytes().startswith(b"\xef\xbb\xbf")
    model = real_model(real, CDS)
    table = model.tables["EpisodeOfCare"]
    assert len(table.columns) == 30
    assert types_of(table)[:3] == [
        ("createdOn", CdmType.DATETIMEOFFSET),
        ("createdBy", CdmType.GUID),
        ("modifiedOn", CdmType.DATETIMEOFFSET),
    ]
    assert column(table, "description").max_length == 100  # trait is.constrained, value "100"
    assert column(table, "identifier").max_length == 100
    # is.constrained with only minimumValue/maximumValue is no length
    assert column(table, "importSequenceNumber").max_length is None
    assert column(table, "stateCode").cdm_type is CdmType.INT64
    assert table.annotations == {"version": "1.0"}
    assert table.source == CDS
    assert table.problem is None
    assert model.warnings == ()


def test_cds_partition_has_windows_path_no_name_and_header(real: Path) -> None:
    (partition,) = real_model(real, CDS).tables["EpisodeOfCare"].partitions
    assert partition == Partition(
        location="cdm/testData/Persistence/ModelJson/DataPartition/"
        "TestModelJsonDataPartitionLocationConsistency/Input/EpisodeOfCare/partition-data.csv",
        name=None,
        dialect=CsvDialect(header=True, delimiter=",", quote_char='"', encoding="utf-8"),
    )


def test_read_traits_accepts_bare_named_and_positional_shapes(real: Path) -> None:
    document = json.loads((real / CDS).read_text(encoding="utf-8-sig"))
    attributes = {item["name"]: item for item in document["entities"][0]["attributes"]}
    created_by = read_traits(attributes["createdBy"]["cdm:traits"])
    assert find_trait(created_by, "is.nullable") == Trait("is.nullable")
    source_named = find_trait(created_by, "is.CDS.sourceNamed")
    assert source_named is not None and source_named.positional == ("createdby",)
    displayed = find_trait(created_by, "is.localized.displayedAs")
    assert displayed is not None
    assert displayed.positional[0]["entityReference"]["constantValues"] == [["en", "Created By"]]
    constrained = find_trait(read_traits(attributes["description"]["cdm:traits"]), "is.constrained")
    assert constrained is not None and constrained.named == {"maximumlength": "100"}
    assert constrained.argument("maximumLength", 0) == "100"


ODD_DIALECT = CsvDialect(header=False, delimiter=";", quote_char=None, encoding="ascii")


def test_string_column_headers_semicolon_and_quote_style_none(real: Path) -> None:
    model = real_model(real, "cdm-objectmodel-testdata/modeljson-odd-fileformatsettings/model.json")
    table = model.tables["someEntity"]
    assert table.partitions == (Partition("data-partitions.csv", "somePartition", ODD_DIALECT),)
    assert table.columns == ()
    assert table.problem == "no attributes declared"
    assert model.warnings == ()  # its CSV trait only sets `newline`, which agrees


def test_contradicting_csv_trait_warns_and_file_format_settings_win(real: Path) -> None:
    model = real_model(real, "cdm-objectmodel-testdata/modeljson-csv-partition-traits/model.json")
    assert model.tables["someEntity"].partitions[0].dialect == ODD_DIALECT
    (warning,) = model.warnings
    assert "somePartition" in warning
    assert (
        "disagree on delimiter, encoding, header, quote_char; using fileFormatSettings" in warning
    )


def test_date_and_time_data_types(real: Path) -> None:
    model = real_model(real, "cdm-objectmodel-testdata/modeljson-date-time-types/model.json")
    table = model.tables["Appointment"]
    assert [(c.name, c.cdm_type, c.declared_type) for c in table.columns] == [
        ("appointmentDate", CdmType.DATE, "date"),
        ("appointmentTime", CdmType.TIME, "time"),
        ("patientName", CdmType.STRING, "string"),
    ]
    assert table.partitions == ()


def test_reference_entities_are_skipped_with_a_warning(real: Path) -> None:
    model = real_model(real, "cdm-objectmodel-testdata/modeljson-reference-entities/model.json")
    assert list(model.tables) == ["Customers", "Companies"]
    (warning,) = model.warnings
    assert "ReferenceEntity 'Orders' skipped" in warning
    customers = model.tables["Customers"]
    assert len(customers.columns) == 11
    assert {c.cdm_type for c in customers.columns} == {CdmType.STRING}
    assert customers.partitions == (
        Partition("1123123-12123-12312/someurl/2016.csv", "2016", CsvDialect()),
    )
    assert types_of(model.tables["Companies"]) == [
        ("CompanyId", CdmType.STRING),
        ("CompanyName", CdmType.STRING),
    ]


ORDERS = "cdm-modeljson-schema/examples/OrdersProducts/model.json"
CONTAINER = "0682aad0-37c2-4eac-a4d3-e243f7e0afc4"


def test_orders_products_blob_urls_with_snapshot_query(real: Path) -> None:
    model = real_model(real, ORDERS)
    assert list(model.tables) == ["Orders", "Products"]
    assert model.tables["Orders"].partitions == (
        Partition(f"{CONTAINER}/Orders.csv", "Part001", CsvDialect()),
    )
    assert model.tables["Products"].partitions == (
        Partition(f"{CONTAINER}/Products.csv", "Part001", CsvDialect()),
    )
    assert model.warnings == ()


def test_orders_products_columns(real: Path) -> None:
    model = real_model(real, ORDERS)
    orders, products = model.tables["Orders"], model.tables["Products"]
    assert len(orders.columns) == 14 and len(products.columns) == 68
    assert types_of(orders)[:4] == [
        ("OrderID", CdmType.INT64),
        ("CustomerID", CdmType.STRING),
        ("EmployeeID", CdmType.INT64),
        ("OrderDate", CdmType.DATETIME),
    ]
    freight = column(orders, "Freight")  # a decimal without the shape trait
    assert (freight.cdm_type, freight.precision, freight.scale) == (CdmType.DECIMAL, None, None)
    assert column(products, "price").cdm_type is CdmType.DOUBLE
    assert column(products, "Discontinued").cdm_type is CdmType.BOOLEAN
    assert products.annotations == {"pbi:MappingDisplayHint": "Product"}


def test_linked_model_keeps_only_the_local_entity(real: Path) -> None:
    model = real_model(
        real, "cdm-modeljson-schema/examples/OrdersProductsCustomersLinked/model.json"
    )
    assert list(model.tables) == ["Customers"]
    assert model.tables["Customers"].partitions == ()
    assert len(model.warnings) == 2
    assert "'Orders'" in model.warnings[0] and "'Products'" in model.warnings[1]


def test_every_data_type_of_the_official_schema_is_known(real: Path) -> None:
    schema = json.loads((real / "cdm-modeljson-schema/modeljsonschema.json").read_text())
    enum = schema["definitions"]["attribute"]["properties"]["dataType"]["enum"]
    assert {name: parse_cdm_type(name) for name in enum} == {
        "unclassified": CdmType.UNCLASSIFIED,
        "string": CdmType.STRING,
        "int64": CdmType.INT64,
        "double": CdmType.DOUBLE,
        "date": CdmType.DATE,
        "time": CdmType.TIME,
        "dateTime": CdmType.DATETIME,
        "dateTimeOffset": CdmType.DATETIMEOFFSET,
        "decimal": CdmType.DECIMAL,
        "boolean": CdmType.BOOLEAN,
        "guid": CdmType.GUID,
        "json": CdmType.JSON,
    }


FNO = "sneaksanddata-synapse-link-fno"


def test_inventtrans_decimals_lengths_and_annotations(real: Path) -> None:
    model = real_model(real, f"{FNO}/inventtrans/model.json")
    table = model.tables["inventtrans"]
    assert len(table.columns) == 88
    decimals = {c.name: (c.precision, c.scale) for c in table.columns if c.precision is not None}
    assert set(decimals.values()) == {(38, 6), (38, 16)}
    assert [name for name, shape in decimals.items() if shape == (38, 16)] == [
        "costamountsettled",
        "qtysettled",
        "qtysettledseccur_ru",
    ]
    assert {c.cdm_type for c in table.columns if c.precision is not None} == {CdmType.DECIMAL}
    lengths = {c.name: c.max_length for c in table.columns if c.max_length is not None}
    assert lengths["activitynumber"] == 50 and lengths["currencycode"] == 3
    assert lengths["dataareaid"] == 4 and lengths["projcategoryid"] == 30
    assert {c.cdm_type for c in table.columns if c.max_length is not None} == {CdmType.STRING}
    assert column(table, "Id").cdm_type is CdmType.GUID and column(table, "Id").max_length is None
    assert types_of(table)[-4:] == [
        ("versionnumber", CdmType.INT64),
        ("createdon", CdmType.DATETIMEOFFSET),
        ("modifiedon", CdmType.DATETIME),
        ("IsDelete", CdmType.BOOLEAN),
    ]
    assert column(table, "partition").cdm_type is CdmType.INT64  # SQL keyword kept verbatim
    assert table.annotations["Athena:InitialSyncState"] == "Completed"
    assert table.annotations["Athena:InitialSyncDataCompletedTime"] == "1/1/2020 0:00:00 PM"
    assert table.partitions == ()
    assert len(model.tables["dimensionattributelevelvalue"].columns) == 25


def test_schema_change_folders_differ_in_the_middle(real: Path) -> None:
    old = real_model(real, f"{FNO}/schema-change/2020-01-01T00.00.00Z/model.json")
    new = real_model(real, f"{FNO}/schema-change/2020-01-01T01.00.00Z/model.json")
    old_names = old.tables["synapsetable"].column_names
    new_names = new.tables["synapsetable"].column_names
    assert len(old_names) == len(new_names) == 25
    assert old_names[-2:] == ["IsDelete2", "IsDelete"]
    assert "dimensionattributevalue" not in old_names and "IsDelete2" not in new_names
    assert new_names[4] == "dimensionattributevalue"
    assert len(old.tables["currency"].columns) == 38


def test_incremental_first_folder_omits_a_table(real: Path) -> None:
    base = f"{FNO}/incremental-dimensionattributelevel"
    first = real_model(real, f"{base}/2020-01-01T00.00.00Z/model.json")
    later = real_model(real, f"{base}/2020-01-01T01.00.00Z/model.json")
    root = real_model(real, f"{base}/model.json")
    assert set(first.tables) == {"currency", "dimensionattributelevel"}
    assert (
        set(later.tables)
        == set(root.tables)
        == {
            "currency",
            "dimensionattributelevel",
            "dimensionattributelevelvalue",
        }
    )
    assert first.tables["currency"].source == f"{base}/2020-01-01T00.00.00Z/model.json"


def test_malformed_model_json_is_unavailable(real: Path) -> None:
    source = f"{FNO}/malformed-model-json/model.json"
    with pytest.raises(SchemaUnavailable, match=r"malformed-model-json/model\.json: no `entities`"):
        real_model(real, source)


def test_truncated_fixture_is_unavailable(real: Path) -> None:
    data = (real / f"{FNO}/inventtrans/model.json").read_bytes()
    with pytest.raises(SchemaUnavailable, match=r"^x/model.json: invalid or truncated JSON"):
        parse_model_json(data[: len(data) // 2], "x/model.json")


# ---------------------------------------------------------------------------------------------
# model.json: synthetic cases (lake-format.md section 10)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty document"),
        (b" \r\n", "empty document"),
        (b'{"name": "cdm", "entities": [{"name": "a", "attri', "invalid or truncated JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[]", "no `entities`"),
        (b'{"name": "cdm", "entities": {}}', "no `entities`"),
    ],
)
def test_documents_without_a_schema_are_unavailable(data: bytes, reason: str) -> None:
    with pytest.raises(SchemaUnavailable) as raised:
        parse_model_json(data, "2024-05-01T10.15.00Z/model.json")
    assert str(raised.value).startswith("2024-05-01T10.15.00Z/model.json: ")
    assert reason in str(raised.value)


def test_bom_and_unknown_top_level_keys_are_accepted() -> None:
    data = b"\xef\xbb\xbf" + model_json(entity("a", attribute("x")), **{"pbi:mashup": {"q": 1}})
    assert one_table(data).column_names == ["x"]


@pytest.mark.parametrize(
    ("max_length", "expected"),
    [(-1, None), (0, None), (9999, None), (4000, 4000), (4001, 4001), ("50", 50), (None, None)],
)
def test_max_length(max_length: Any, expected: int | None) -> None:
    extra = {} if max_length is None else {"maxLength": max_length}
    table = one_table(model_json(entity("t", attribute("s", **extra))))
    assert table.columns[0].max_length == expected


def test_an_attribute_declared_again_keeps_what_its_own_values_mean() -> None:
    # parsed columns are shared between documents that declare the same attribute: values
    # equal in Python but not in JSON (1, 1.0, true) must not share one
    lengths = [1, 1.0, True, "1", 1, True, None, 1.5]
    tables = [one_table(model_json(entity("t", attribute("s", maxLength=n)))) for n in lengths]
    assert [t.columns[0].max_length for t in tables] == [1, 1, None, 1, 1, None, None, None]
    again = one_table(model_json(entity("t", attribute("s", "int64", maxLength=1))))
    assert (again.columns[0].cdm_type, again.columns[0].declared_type) == (CdmType.INT64, "int64")


def test_max_length_falls_back_to_the_constrained_trait() -> None:
    trait = {
        "traitReference": "is.constrained",
        "arguments": [{"name": "maximumLength", "value": 60}],
    }
    table = one_table(
        model_json(entity("t", attribute("s", maxLength=-1, **{"cdm:traits": [trait]})))
    )
    assert table.columns[0].max_length == 60


def shaped(arguments: list[Any]) -> dict[str, Any]:
    trait = {"traitReference": "is.dataFormat.numeric.shaped", "arguments": arguments}
    return attribute("d", "decimal", **{"cdm:traits": ["is.dataFormat.numeric", trait]})


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ([{"name": "precision", "value": 38}, {"name": "scale", "value": 6}], (38, 6)),
        ([{"name": "scale", "value": "4"}, {"name": "precision", "value": "19"}], (19, 4)),
        ([18, 2], (18, 2)),
        (["20", "2"], (20, 2)),
        ([{"name": "precision", "value": 50}, {"name": "scale", "value": 60}], (50, 60)),
        ([], (None, None)),
    ],
)
def test_decimal_shape(arguments: list[Any], expected: tuple[int | None, int | None]) -> None:
    decimal = one_table(model_json(entity("t", shaped(arguments)))).columns[0]
    assert (decimal.precision, decimal.scale) == expected


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ("DATETIME", CdmType.DATETIME),
        ("dateTime", CdmType.DATETIME),
        ("DateTimeOffset", CdmType.DATETIMEOFFSET),
        ("Int32", CdmType.INT32),
        ("int16", CdmType.INT16),
        ("BYTE", CdmType.BYTE),
        ("Float", CdmType.FLOAT),
        ("binary", CdmType.BINARY),
        ("Char", CdmType.CHAR),
        ("JSON", CdmType.JSON),
        ("GUID", CdmType.GUID),
        ("geography", CdmType.UNCLASSIFIED),
        ("", CdmType.UNCLASSIFIED),
    ],
)
def test_data_type_any_case_unknown_kept_as_declared(declared: str, expected: CdmType) -> None:
    table = one_table(model_json(entity("t", attribute("c", declared))))
    assert (table.columns[0].cdm_type, table.columns[0].declared_type) == (expected, declared)


def test_parse_cdm_type_edges() -> None:
    assert parse_cdm_type(None) is CdmType.UNCLASSIFIED
    assert parse_cdm_type(" string ") is CdmType.STRING
    assert parse_cdm_type("bigInteger") is CdmType.INT64
    assert parse_cdm_type("smallInteger") is CdmType.INT16


def test_missing_data_type_is_unclassified() -> None:
    table = one_table(model_json(entity("t", {"name": "c"})))
    assert (table.columns[0].cdm_type, table.columns[0].declared_type) == (CdmType.UNCLASSIFIED, "")


def test_names_equal_ignoring_case_are_renamed_with_a_warning() -> None:
    data = model_json(entity("t", attribute("Name"), attribute("name"), attribute("NAME")))
    model = parse_model_json(data, "model.json")
    assert model.tables["t"].column_names == ["Name", "name_2", "NAME_3"]
    assert model.warnings == (
        "model.json: t: column 'name' equals 'Name' ignoring case; renamed to 'name_2'",
        "model.json: t: column 'NAME' equals 'Name' ignoring case; renamed to 'NAME_3'",
    )


def test_renaming_avoids_names_already_taken() -> None:
    table = one_table(model_json(entity("t", attribute("a"), attribute("A"), attribute("a_2"))))
    assert table.column_names == ["a", "A_2", "a_2_2"]


def test_sql_keyword_names_are_kept_verbatim() -> None:
    names = ["partition", "option", "select", "order", "Id"]
    model = parse_model_json(model_json(entity("t", *map(attribute, names))), "model.json")
    assert model.tables["t"].column_names == names
    assert model.warnings == ()


def test_attribute_without_name_makes_the_table_a_problem() -> None:
    table = one_table(model_json(entity("t", attribute("a"), {"dataType": "string"})))
    assert table.columns == ()
    assert table.problem == "attribute 2 has no name; column positions are unknown"


def test_entities_reference_empty_partitions_and_sync_state() -> None:
    sync = [{"name": "Athena:InitialSyncState", "value": "InProgress"}]
    data = model_json(
        {"$type": "ReferenceEntity", "name": "linked", "source": "x", "modelId": "m"},
        entity("account", attribute("Id", "guid"), partitions=[], annotations=sync),
        {"$type": "LocalEntity", "attributes": []},
    )
    model = parse_model_json(data, "model.json")
    assert list(model.tables) == ["account"]
    assert model.tables["account"].partitions == ()
    assert model.tables["account"].annotations == {"Athena:InitialSyncState": "InProgress"}
    assert model.warnings == (
        "model.json: ReferenceEntity 'linked' skipped (linked models are not supported)",
        "model.json: entity without a name skipped",
    )


def test_an_entity_declared_twice_is_a_problem_not_half_of_its_files() -> None:
    data = model_json(entity("account", attribute("a")), entity("Account", attribute("b")))
    model = parse_model_json(data, "model.json")
    assert list(model.tables) == ["account"]
    problem = model.tables["account"].problem
    assert problem is not None and "('account' and 'Account')" in problem
    assert model.warnings == (f"model.json: {problem}",)


def partitions_of(*partitions: dict[str, Any], source: str = "model.json") -> Model:
    return parse_model_json(
        model_json(entity("t", attribute("a"), partitions=list(partitions))), source
    )


def test_partition_locations_names_and_relative_paths() -> None:
    model = partitions_of(
        {"name": "2020", "location": "https://acct.dfs.core.windows.net:443/c/t/2020.csv"},
        {"location": "t/1900.csv"},
        {"name": "x"},
        source="2024-05-01T10.15.00Z/model.json",
    )
    assert model.tables["t"].partitions == (
        Partition("c/t/2020.csv", "2020"),
        Partition("2024-05-01T10.15.00Z/t/1900.csv", None),
    )
    assert model.warnings == (
        "2024-05-01T10.15.00Z/model.json: t: partition without a location skipped",
    )


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (None, CsvDialect()),
        ({"$type": "CsvFormatSettings"}, CsvDialect()),
        ({"columnHeaders": True}, CsvDialect(header=True)),
        ({"columnHeaders": "TRUE"}, CsvDialect(header=True)),
        ({"columnHeaders": "false", "delimiter": "\t"}, CsvDialect(delimiter="\t")),
        ({"quoteStyle": "QuoteStyle.Csv", "encoding": "UTF-8"}, CsvDialect()),
        ({"quoteStyle": "QuoteStyle.None"}, CsvDialect(quote_char=None)),
        ({"encoding": "ASCII"}, CsvDialect(encoding="ascii")),
        ({"encoding": "UTF-16LE"}, CsvDialect(encoding="utf-16-le")),
    ],
)
def test_file_format_settings(settings: dict[str, Any] | None, expected: CsvDialect) -> None:
    partition = {"location": "t/2020.csv"} | (
        {} if settings is None else {"fileFormatSettings": settings}
    )
    assert partitions_of(partition).tables["t"].partitions[0].dialect == expected


def test_csv_trait_alone_sets_the_dialect() -> None:
    trait = {
        "traitReference": "is.partition.format.CSV",
        "arguments": [
            {"name": "columnHeaders", "value": "true"},
            {"name": "delimiter", "value": "|"},
        ],
    }
    model = partitions_of({"location": "t/2020.csv", "cdm:traits": [trait]})
    assert model.tables["t"].partitions[0].dialect == CsvDialect(header=True, delimiter="|")
    assert model.warnings == ()


# ---------------------------------------------------------------------------------------------
# locations and globs


@pytest.mark.parametrize(
    ("location", "folder", "expected"),
    [
        (
            "https://acct.dfs.core.windows.net/dv-env-org/account/2020.csv",
            "",
            "dv-env-org/account/2020.csv",
        ),
        (
            "https://acct.blob.core.windows.net:443/c/account/Snapshot/2020_1.csv"
            "?snapshot=2018-11-14T19:37:51.7526830Z",
            "ignored",
            "c/account/Snapshot/2020_1.csv",
        ),
        (
            "https://a.dfs.core.windows.net/c/my%20table/caf%C3%A9%2B1.csv",
            "",
            "c/my table/café+1.csv",
        ),
        ("http://contoso.com/data-partitions.csv", "", "data-partitions.csv"),
        ("account/2020.csv", "2024-05-01T10.15.00Z", "2024-05-01T10.15.00Z/account/2020.csv"),
        ("../other/./x.csv", "a/b", "a/other/x.csv"),
        ("../../../x.csv", "a", "x.csv"),
        ("/Tables/x.csv", "f", "Tables/x.csv"),
        ("adls:/Tables/x.csv", "f", "Tables/x.csv"),
        ("local:/dataFiles/2015/May/cohort001.csv", "f", "dataFiles/2015/May/cohort001.csv"),
        ("C:\\cdm\\data\\x.csv", "a", "cdm/data/x.csv"),
        ("data\\x.csv", "a", "a/data/x.csv"),
        ("  t/x.csv ", "", "t/x.csv"),
    ],
)
def test_location_path(location: str, folder: str, expected: str) -> None:
    assert location_path(location, folder) == expected


path_segment = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="/"), min_size=1, max_size=12
)


@given(st.lists(path_segment, min_size=1, max_size=4), st.sampled_from(["dfs", "blob"]))
def test_percent_encoded_url_paths_round_trip(segments: list[str], service: str) -> None:
    path = "/".join(quote(segment, safe="") for segment in segments)
    url = f"https://acct.{service}.core.windows.net:443/{path}?snapshot=2024-01-01T00:00:00Z"
    assert location_path(url, "ignored") == "/".join(segments)


@pytest.mark.parametrize(
    ("glob", "path", "matches"),
    [
        ("*.csv", "/a.csv", True),
        ("*.csv", "/x/a.csv", False),
        ("/**/*.csv", "/a.csv", True),
        ("/**/*.csv", "/x/y/a.csv", True),
        ("/**/*.csv", "/x/y/a.txt", False),
        ("x/**", "/x/y/z", True),
        ("a?c", "/abc", True),
        ("a?c", "/a/c", False),
        ("a.c", "/abc", False),
        ("a+(b)[c]", "/a+(b)[c]", True),
        ("\\sub\\*.csv", "/sub/a.csv", True),
        ("/**.csv", "/x/a.csv", False),
    ],
)
def test_glob_to_regex(glob: str, path: str, matches: bool) -> None:
    assert bool(glob_to_regex(glob).fullmatch(path)) is matches


@given(path_segment.filter(lambda text: not set(text) & set("*?\\")))
def test_literal_glob_matches_only_itself(name: str) -> None:
    regex = glob_to_regex(name)
    assert regex.fullmatch("/" + name)
    assert not regex.fullmatch(f"/{name}x") and not regex.fullmatch(f"/x/{name}")


# ---------------------------------------------------------------------------------------------
# manifests: fixtures

PATTERNS = "cdm-objectmodel-testdata/manifest-partition-patterns"
ROOT_FILE, SUB_FILE = "partitions/testfile.csv", "partitions/subFolder/testSubFile.csv"
SIMPLE_ENTITY = {"definitions": [{"entityName": "entity", "hasAttributes": [attribute("a")]}]}

# What each entity of the glob fixture must match (from the CDM SDK's own test of this file).
GLOB_EXPECTED = {
    "dotIsEscaped": [],
    "onlyStar": [ROOT_FILE],
    "starNoMatch": [ROOT_FILE],
    "starAtRootLevel": [ROOT_FILE],
    "starAtDeeperLevel": [SUB_FILE],
    "endsWithStar": [ROOT_FILE],
    "globstar": [SUB_FILE, ROOT_FILE],
    "beginsWithGlobstar": [ROOT_FILE],
    "endsWithGlobstar": [SUB_FILE, ROOT_FILE],
    "matchesZeroOrMoreFolders": [SUB_FILE, ROOT_FILE],
    "matchesZeroOrMoreNoStartingSlash": [SUB_FILE, ROOT_FILE],
    "questionMark": [ROOT_FILE],
    "beginsWithQuestionMark": [ROOT_FILE],
    "endsWithQuestionMark": [ROOT_FILE],
    "backslashInPatternMatchesSlash": [ROOT_FILE],
    "globAndRegex": [ROOT_FILE],
}


@pytest.fixture(scope="module")
def glob_model(real: Path, tmp_path_factory: pytest.TempPathFactory) -> Model:
    root = tmp_path_factory.mktemp("glob")
    shutil.copy(real / PATTERNS / "glob/pattern.manifest.cdm.json", root)
    lake = write(root, {ROOT_FILE: "1\n", SUB_FILE: "2\n", "entity.cdm.json": SIMPLE_ENTITY})
    return load_manifest(lake, "pattern.manifest.cdm.json")


def test_glob_fixture_declares_sixteen_patterns(glob_model: Model) -> None:
    assert list(glob_model.tables) == list(GLOB_EXPECTED)
    (warning,) = glob_model.warnings
    assert "globAndRegex" in warning and "the glob is used" in warning


@pytest.mark.parametrize(("name", "expected"), GLOB_EXPECTED.items())
def test_glob_fixture_matches(glob_model: Model, name: str, expected: list[str]) -> None:
    table = glob_model.tables[name]
    assert [partition.location for partition in table.partitions] == expected
    (pattern,) = table.patterns
    assert pattern.root == "partitions" and pattern.glob is not None
    assert table.column_names == ["a"] and table.source == "entity.cdm.json"


def test_regex_and_incremental_patterns(real: Path, tmp_path: Path) -> None:
    shutil.copy(real / PATTERNS / "incremental/pattern.manifest.cdm.json", tmp_path)
    day = "IncrementalData/2020/01/01"
    files = ["FullData/fulldata1.csv", "FullData/fulldata2.csv", "FullData/notes.txt"]
    files += [f"{day}/Upserts/upsert1.csv", f"{day}/Deletes/delete1.csv", f"{day}/x/delete2.csv"]
    lake = write(tmp_path, dict.fromkeys(files, "x\n"))
    model = load_manifest(lake, "pattern.manifest.cdm.json")
    table = model.tables["testEntity"]
    # the incremental patterns' files are changes, not more of the snapshot
    assert [p.location for p in table.partitions] == [
        "FullData/fulldata1.csv",
        "FullData/fulldata2.csv",
    ]
    assert table.patterns == (
        PartitionPattern("FullData", regex="/fulldata(\\d+)\\.csv$"),
        PartitionPattern(
            "IncrementalData",
            regex="/(.*)/(.*)/(.*)/Upserts/upsert(\\d+)\\.csv$",
            incremental="Upsert",
        ),
        PartitionPattern(
            "IncrementalData",
            regex="/(.*)/(.*)/(.*)/Deletes/delete(\\d+)\\.csv$",
            incremental="Delete",
        ),
    )
    assert pattern_files(lake, table.patterns[2]) == [f"{day}/Deletes/delete1.csv"]
    assert table.problem == "entity document not found: someEntity.cdm.json"
    assert table.columns == () and model.warnings == ()


@pytest.mark.parametrize("changes", ["Upsert and Delete", "Upsert", ""])
def test_an_entity_whose_incremental_partitions_hold_files_is_not_loaded(
    real: Path, tmp_path: Path, sqlite_url: str, changes: str
) -> None:
    """CDM's Delete partitions hold deleted records only: they loaded as rows (found by
    review). Without change files the full data is the whole table, and loads."""
    from turbodata import migrate

    shutil.copy(real / PATTERNS / "incremental/pattern.manifest.cdm.json", tmp_path)
    document = {"definitions": [{"entityName": "SomeEntity", "hasAttributes": [
        {"name": "Id", "dataFormat": "Guid"}, {"name": "name", "dataFormat": "String"}
    ]}]}  # fmt: skip
    guid = "00000000-0000-0000-0000-00000000000{}".format
    files = {"someEntity.cdm.json": json.dumps(document)}
    files["FullData/fulldata1.csv"] = f"{guid(1)},alpha\n{guid(2)},beta\n"
    if "Upsert" in changes:
        files["IncrementalData/2020/01/02/Upserts/upsert1.csv"] = f"{guid(3)},gamma\n"
    if "Delete" in changes:
        files["IncrementalData/2020/01/03/Deletes/delete1.csv"] = f"{guid(2)},beta\n"
    write(tmp_path, files)

    result = migrate(tmp_path, sqlite_url).tables["testEntity"]

    if changes:
        assert result.status == "failed" and result.rows_inserted == 0
        matched = "(Delete, Upsert) match 2 file(s)" if "Delete" in changes else "(Upsert) match 1"
        assert f"incrementalPartitionPatterns {matched}" in result.error
    else:
        assert (result.status, result.rows_inserted) == ("loaded", 2), result.error


def test_explicit_partitions_namespaced_location_and_entity_schema(
    real: Path, tmp_path: Path
) -> None:
    (tmp_path / "cdm").mkdir()
    shutil.copy(real / PATTERNS / "regex-and-glob/entities.manifest.cdm.json", tmp_path / "cdm")
    lake = write(
        tmp_path, {"cdm/test location2/b.csv": "1\n", "cdm/test location2/sub/c.csv": "2\n"}
    )
    model = load_manifest(lake, "cdm/entities.manifest.cdm.json")
    first, second = model.tables["testEntity"], model.tables["testEntity2"]
    assert first.partitions == (Partition("dataFiles/2015/May/cohort001.csv", None, CsvDialect()),)
    assert first.patterns == (PartitionPattern("cdm/test location", regex="\\s*"),)
    assert first.problem == "entity document not found: cdm/testPath"
    assert second.partitions == (Partition("cdm/test location2/b.csv", listed=True),)
    assert second.patterns == (PartitionPattern("cdm/test location2", glob="/*.csv"),)
    assert second.problem == "entity document not found: cdm/testPath2"


SAMPLE_ENTITIES = ["Account", "Address", "CarePlan", "CodeableConcept", "Contact", "Device"]
SAMPLE_ENTITIES += ["EmrAppointment", "Encounter", "EpisodeOfCare", "Location"]


def test_sample_manifest_unresolved_and_missing_documents(real: Path) -> None:
    model = load_manifest(LocalLake(real / "cdm-sample-manifest"), "default.manifest.cdm.json")
    assert list(model.tables) == SAMPLE_ENTITIES and model.warnings == ()
    header_dialect = CsvDialect(header=True, delimiter=",")
    for name, table in model.tables.items():
        assert table.columns == ()
        assert table.partitions == (Partition(f"{name}/partition-data.csv", None, header_dialect),)
        assert table.source == f"{name}.cdm.json"
        if name in ("Account", "CodeableConcept"):
            assert table.problem is not None
            assert table.problem.startswith(
                f"unresolved schema: {name}.cdm.json: imports cdm:/core/"
            )
        else:
            assert table.problem == f"entity document not found: {name}.cdm.json"


EDL = "sneaksanddata-edl-cdm-changefeed"


def test_edl_entity_document_with_custom_data_type_chain(real: Path) -> None:
    table = load_entity_document(LocalLake(real / EDL), "Tables/ValidEntity.cdm.json")
    assert (table.name, table.problem, table.source) == (
        "ValidEntity",
        None,
        "Tables/ValidEntity.cdm.json",
    )
    assert types_of(table) == [
        ("_SysRowId", CdmType.STRING),
        ("LSN", CdmType.STRING),
        ("LastProcessedChange_DateTime", CdmType.DATETIME),
        ("DataLakeModified_DateTime", CdmType.DATETIME),
        ("RECID", CdmType.INT64),
        ("CustomField", CdmType.STRING),
        ("PARTITION", CdmType.INT64),
        ("RECVERSION", CdmType.INT32),
        ("MODIFIEDDATETIME", CdmType.DATETIME),
    ]
    custom = column(table, "CustomField")
    assert (custom.declared_type, custom.max_length) == ("customDataTypeNumber", 50)


def test_edl_unknown_data_format_is_unclassified(real: Path) -> None:
    table = load_entity_document(LocalLake(real / EDL), "Tables/InvalidBinaryType.cdm.json")
    recid = column(table, "RECID")
    assert (recid.cdm_type, recid.declared_type) == (CdmType.UNCLASSIFIED, "UnknownType")
    assert table.problem is None and len(table.columns) == 9


def test_edl_change_feed_document_and_explicit_entity(real: Path) -> None:
    table = load_entity_document(LocalLake(real / EDL), "ChangeFeed/ValidEntity.cdm.json", "Entity")
    assert table.name == "Entity" and len(table.columns) == 12
    assert table.column_names[2:7] == [
        "Start_LSN",
        "End_LSN",
        "DML_Action",
        "Seq_Val",
        "Update_Mask",
    ]
    missing = load_entity_document(
        LocalLake(real / EDL), "ChangeFeed/ValidEntity.cdm.json", "Other"
    )
    assert missing.problem == "ChangeFeed/ValidEntity.cdm.json defines no entity 'Other'"


def test_every_data_format(real: Path) -> None:
    lake = LocalLake(real / "cdm-objectmodel-testdata/cdmjson-all-dataformats")
    table = load_entity_document(lake, "Entity.cdm.json")
    assert [(c.name, c.cdm_type, c.declared_type) for c in table.columns] == [
        ("A", CdmType.INT16, "Int16"),
        ("B", CdmType.INT32, "Int32"),
        ("C", CdmType.INT64, "Int64"),
        ("D", CdmType.FLOAT, "Float"),
        ("E", CdmType.DOUBLE, "Double"),
        ("F", CdmType.GUID, "Guid"),
        ("G", CdmType.STRING, "String"),
        ("H", CdmType.CHAR, "Char"),
        ("I", CdmType.BYTE, "Byte"),
        ("J", CdmType.BINARY, "Binary"),
        ("K", CdmType.TIME, "Time"),
        ("L", CdmType.DATE, "Date"),
        ("M", CdmType.DATETIME, "DateTime"),
        ("N", CdmType.DATETIMEOFFSET, "DateTimeOffset"),
        ("O", CdmType.BOOLEAN, "Boolean"),
        ("P", CdmType.DECIMAL, "Decimal"),
        ("Q", CdmType.JSON, "Json"),
    ]


# ---------------------------------------------------------------------------------------------
# manifests: synthetic F&O-style tree

CSV_FALSE = {
    "traitReference": "is.partition.format.CSV",
    "arguments": [{"name": "columnHeaders", "value": "false"}, {"name": "delimiter", "value": ","}],
}
SHAPE_32_6 = {
    "traitReference": "is.dataFormat.numeric.shaped",
    "arguments": [{"name": "precision", "value": 32}, {"name": "scale", "value": 6}],
}
CUST_TABLE = {
    "jsonSchemaSemanticVersion": "1.0.0",
    "imports": [{"corpusPath": "cdm:/foundations.cdm.json"}],
    "definitions": [
        {"dataTypeName": "CustAccount", "extendsDataType": "AccountNum"},
        {"dataTypeName": "AccountNum", "extendsDataType": "string"},
        {"dataTypeName": "AmountMST", "extendsDataType": "decimal", "exhibitsTraits": [SHAPE_32_6]},
        {"dataTypeName": "RecId", "extendsDataType": "bigInteger"},
        {
            "entityName": "CustTable",
            "hasAttributes": [
                {"name": "ACCOUNTNUM", "dataType": "CustAccount", "maximumLength": 20},
                {"name": "CREDITMAX", "dataType": "AmountMST"},
                {"name": "RECID", "dataType": {"dataTypeReference": "RecId"}},
                {
                    "name": "BLOCKED",
                    "dataType": "CustVendorBlocked",
                    "appliedTraits": [{"traitReference": "is.constrainedList.wellKnown"}],
                },
                {"name": "NOTES", "dataType": "Memo"},
                {"name": "recid", "dataFormat": "Int64"},
            ],
        },
    ],
}
VEND_TABLE = {
    "definitions": [{"entityName": "VendTable", "hasAttributes": [attribute("ACCOUNTNUM")]}]
}


def fno_tree(root: Path) -> LocalLake:
    finance = "Tables/Finance"
    return write(
        root,
        {
            "Tables/Tables.manifest.cdm.json": {
                "manifestName": "Tables",
                "subManifests": [
                    {"manifestName": "Finance", "definition": "Finance/Finance.manifest.cdm.json"},
                ],
            },
            f"{finance}/Finance.manifest.cdm.json": {
                "manifestName": "Finance",
                "entities": [
                    {
                        "type": "LocalEntity",
                        "entityName": "CustTable",
                        "entityPath": "CustTable.cdm.json/CustTable",
                        "dataPartitions": [
                            {
                                "location": "CustTable/CUSTTABLE_00001.csv",
                                "exhibitsTraits": [CSV_FALSE],
                            },
                            {"location": "CustTable/CUSTTABLE_00001.csv"},
                        ],
                    },
                    {
                        "entityName": "VendTable",
                        "entityPath": "adls:/Tables/Finance/VendTable.cdm.json/VendTable",
                    },
                    {
                        "type": "ReferencedEntity",
                        "entityName": "Linked",
                        "entityPath": "x.cdm.json/X",
                    },
                    {"entityName": "Core", "entityPath": "cdm:/core/Account.cdm.json/Account"},
                ],
                "subManifests": [
                    {"manifestName": "Back", "definition": "../Tables.manifest.cdm.json"}
                ],
            },
            f"{finance}/CustTable.cdm.json": CUST_TABLE,
            f"{finance}/VendTable.cdm.json": VEND_TABLE,
            f"{finance}/resolved/CustTable.cdm.json": CUST_TABLE,
            f"{finance}/CustTable/CUSTTABLE_00001.csv": "x\n",
        },
    )


def test_sub_manifests_are_walked_once(tmp_path: Path) -> None:
    model = load_manifest(fno_tree(tmp_path), "Tables/Tables.manifest.cdm.json")
    assert list(model.tables) == ["CustTable", "VendTable", "Core"]
    assert model.source == "Tables/Tables.manifest.cdm.json"
    finance = "Tables/Finance/Finance.manifest.cdm.json"
    assert model.warnings == (
        "Tables/Finance/CustTable.cdm.json: CustTable: column 'recid' equals 'RECID' ignoring "
        "case; renamed to 'recid_2'",
        f"{finance}: ReferencedEntity 'Linked' skipped (only local entities)",
        f"{finance}: sub-manifest Tables/Tables.manifest.cdm.json already read; skipped",
    )


def test_a_sub_manifest_cut_short_stops_the_manifest_instead_of_dropping_its_tables(
    tmp_path: Path,
) -> None:
    lake = fno_tree(tmp_path)
    finance = tmp_path / "Tables/Finance/Finance.manifest.cdm.json"
    finance.write_text(finance.read_text()[:40])  # being rewritten, or a copy cut short

    with pytest.raises(SchemaUnavailable, match=r"sub-manifest Tables/Finance/Finance\.manifest"):
        load_manifest(lake, "Tables/Tables.manifest.cdm.json")


def test_named_data_types_follow_local_chains(tmp_path: Path) -> None:
    cust = load_manifest(fno_tree(tmp_path), "Tables/Tables.manifest.cdm.json").tables["CustTable"]
    assert cust.source == "Tables/Finance/CustTable.cdm.json" and cust.problem is None
    assert [(c.name, c.cdm_type, c.declared_type) for c in cust.columns] == [
        ("ACCOUNTNUM", CdmType.STRING, "CustAccount"),
        ("CREDITMAX", CdmType.DECIMAL, "AmountMST"),
        ("RECID", CdmType.INT64, "RecId"),
        ("BLOCKED", CdmType.INT32, "CustVendorBlocked"),
        ("NOTES", CdmType.UNCLASSIFIED, "Memo"),
        ("recid_2", CdmType.INT64, "Int64"),
    ]
    assert column(cust, "ACCOUNTNUM").max_length == 20
    assert (column(cust, "CREDITMAX").precision, column(cust, "CREDITMAX").scale) == (32, 6)
    assert cust.partitions == (Partition("Tables/Finance/CustTable/CUSTTABLE_00001.csv"),)


def test_absolute_namespaced_entity_path_and_foundation_entity(tmp_path: Path) -> None:
    tables = load_manifest(fno_tree(tmp_path), "Tables/Tables.manifest.cdm.json").tables
    assert tables["VendTable"].column_names == ["ACCOUNTNUM"]
    assert tables["VendTable"].source == "Tables/Finance/VendTable.cdm.json"
    assert tables["Core"].columns == ()
    assert tables["Core"].problem == (
        "unresolved schema: cdm:/core/Account.cdm.json/Account is in the CDM foundation corpus, "
        "not in the lake"
    )


def test_find_entity_documents_skips_manifests_and_resolved(tmp_path: Path) -> None:
    assert find_entity_documents(fno_tree(tmp_path), "Tables") == [
        "Tables/Finance/CustTable.cdm.json",
        "Tables/Finance/VendTable.cdm.json",
    ]


def test_root_manifest_missing_empty_or_not_a_manifest(tmp_path: Path) -> None:
    lake = write(tmp_path, {"empty.manifest.cdm.json": b"", "other.manifest.cdm.json": {"x": 1}})
    with pytest.raises(FileNotFoundError, match=r"none\.manifest\.cdm\.json: not found"):
        load_manifest(lake, "none.manifest.cdm.json")
    with pytest.raises(SchemaUnavailable, match=r"^empty\.manifest\.cdm\.json: empty document"):
        load_manifest(lake, "empty.manifest.cdm.json")
    with pytest.raises(SchemaUnavailable, match=r"^other\.manifest\.cdm\.json: no `entities`"):
        load_manifest(lake, "other.manifest.cdm.json")


def entity_document(
    *attributes: Any, imports: Sequence[str] = (), **definition: Any
) -> dict[str, Any]:
    entity_definition = {"entityName": "T", "hasAttributes": list(attributes), **definition}
    return {
        "imports": [{"corpusPath": path} for path in imports],
        "definitions": [entity_definition],
    }


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (
            entity_document(attribute("a"), {"name": "b", "entity": {"source": "X"}}),
            "attribute 2 is an entity reference",
        ),
        (
            entity_document({"attributeGroupReference": {"attributeGroupName": "g"}}),
            "attribute 1 is an entity reference",
        ),
        (entity_document("T/hasAttributes/a"), "attribute 1 is an entity reference"),
        (entity_document(attribute("a"), extendsEntity="Base"), "the entity extends 'Base'"),
        (entity_document(), "no attributes declared"),
        (
            entity_document(attribute("a"), imports=["cdm:/core/T.cdm.json"]),
            "imports cdm:/core/T.cdm.json from the CDM",
        ),
        (
            entity_document(attribute("a", "Money"), imports=["Types.cdm.json"]),
            "data type 'Money' of 'a' is not defined here (imports: Types.cdm.json)",
        ),
    ],
)
def test_unresolvable_entity_documents_are_problems(
    tmp_path: Path, document: dict[str, Any], reason: str
) -> None:
    table = load_entity_document(write(tmp_path, {"T.cdm.json": document}), "T.cdm.json")
    assert table.columns == ()
    assert table.problem is not None and table.problem.startswith("unresolved schema: T.cdm.json: ")
    assert reason in table.problem


def test_resolvable_entity_documents(tmp_path: Path) -> None:
    document = entity_document(
        attribute("a", "Loop"),
        attribute("b", "Nowhere"),
        attribute("c"),
        imports=[
            "cdm:/foundations.cdm.json",
            "/primitives.cdm.json",
            "cdm:/meanings.measurement.cdm.json",
        ],
        extendsEntity="CdmEntity",
    )
    document["definitions"] += [
        {"dataTypeName": "Loop", "extendsDataType": "Again"},
        {"dataTypeName": "Again", "extendsDataType": "Loop"},
    ]
    table = load_entity_document(write(tmp_path, {"T.cdm.json": document}), "T.cdm.json")
    assert table.problem is None
    assert types_of(table) == [
        ("a", CdmType.UNCLASSIFIED),
        ("b", CdmType.UNCLASSIFIED),
        ("c", CdmType.STRING),
    ]


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        ({}, "entity document not found: T.cdm.json"),
        ({"T.cdm.json": b""}, "T.cdm.json: empty document (0 bytes), not written yet"),
        ({"T.cdm.json": b'{"definitions": ['}, "T.cdm.json: invalid or truncated JSON"),
        (
            {"T.cdm.json": {"definitions": [{"dataTypeName": "x"}]}},
            "T.cdm.json defines no entity 'T'",
        ),
    ],
)
def test_entity_document_missing_or_broken(
    tmp_path: Path, files: dict[str, Any], problem: str
) -> None:
    table = load_entity_document(write(tmp_path, files), "T.cdm.json")
    assert (table.name, table.columns, table.source) == ("T", (), "T.cdm.json")
    assert table.problem is not None and table.problem.startswith(problem)


def test_an_invalid_regex_fails_its_table_and_an_untyped_incremental_pattern_warns(
    tmp_path: Path,
) -> None:
    """An invalid regularExpression was a warning only, its table left with no files and
    the run succeeding (found by review): the table fails now."""
    manifest = {
        "entities": [
            {
                "entityName": "T",
                "entityPath": "T.cdm.json/T",
                "dataPartitionPatterns": [{"rootLocation": "T", "regularExpression": "(unclosed"}],
                "incrementalPartitionPatterns": [{"rootLocation": "T", "globPattern": "*.csv"}],
            },
            {
                "entityName": "U",
                "entityPath": "T.cdm.json/T",
                "incrementalPartitionPatterns": [{"rootLocation": "T", "globPattern": "*.csv"}],
            },
        ]
    }
    lake = write(
        tmp_path,
        {
            "m.manifest.cdm.json": manifest,
            "T.cdm.json": entity_document(attribute("a")),
            "T/1.csv": "x\n",
        },
    )
    model = load_manifest(lake, "m.manifest.cdm.json")
    table = model.tables["T"]
    assert table.partitions == ()  # T/1.csv is a change, of no known type: not the snapshot
    assert table.patterns[1] == PartitionPattern("T", glob="*.csv", incremental="of no type")
    assert str(table.problem).startswith("invalid regularExpression '(unclosed'")
    untyped = model.tables["U"].problem
    assert "incrementalPartitionPatterns (of no type) match 1 file(s)" in str(untyped)
    assert len(model.warnings) == 3  # T's invalid regex, T's and U's untyped patterns
    assert "incremental pattern without is.partition.incremental type" in model.warnings[0]
    assert "invalid regularExpression '(unclosed'" in model.warnings[1]


def test_an_absent_sub_manifest_is_reported_and_the_other_tables_are_kept(tmp_path: Path) -> None:
    lake = fno_tree(tmp_path)
    root = tmp_path / "Tables/Tables.manifest.cdm.json"
    manifest = json.loads(root.read_text())
    manifest["subManifests"].append(
        {"manifestName": "Gone", "definition": "Gone/G.manifest.cdm.json"}
    )
    root.write_text(json.dumps(manifest))

    model, failed = load_manifests(lake, ["Tables/Tables.manifest.cdm.json"])

    assert list(model.tables) == ["CustTable", "VendTable", "Core"]
    assert failed == [
        (
            "Tables/Tables.manifest.cdm.json",
            "Tables/Tables.manifest.cdm.json: sub-manifest Tables/Gone/G.manifest.cdm.json: not"
            " found: the tables it declares are not loaded (the other manifests' tables are)",
        )
    ]
    with pytest.raises(SchemaUnavailable, match=r"Gone/G\.manifest\.cdm\.json: not found"):
        load_manifest(lake, "Tables/Tables.manifest.cdm.json")
