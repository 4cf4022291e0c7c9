"""Loading definitions from JSON and YAML files and from JSON text."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.asl.definition import load
from lockgate.core.errors import UsageError

MACHINE = '{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}'


def test_json_text_and_json_files(tmp_path: Path) -> None:
    assert load(MACHINE)["StartAt"] == "A"
    path = tmp_path / "machine.asl.json"
    path.write_text(MACHINE)
    assert load(path) == load(str(path)) == load(MACHINE)


def test_yaml_files_keep_timestamps_as_text(tmp_path: Path) -> None:
    path = tmp_path / "machine.yaml"
    path.write_text(
        "StartAt: Wait\nStates:\n  Wait:\n    Type: Wait\n    Timestamp: 2016-03-14T01:59:00Z\n    End: true\n"
    )
    definition = load(path)
    assert definition["States"]["Wait"]["Timestamp"] == "2016-03-14T01:59:00Z"
    assert definition["States"]["Wait"]["End"] is True


def test_json_syntax_errors_name_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n  "StartAt": "A",\n  "States": {,}\n}\n')
    with pytest.raises(UsageError) as caught:
        load(path)
    assert str(caught.value).startswith(f"{path}:3:14: invalid JSON")
    with pytest.raises(UsageError, match=r"<definition text>:1:2"):
        load("{oops}")


def test_yaml_syntax_errors_name_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text("StartAt: A\nStates:\n  A: {Type: Succeed\n")
    with pytest.raises(UsageError) as caught:
        load(path)
    assert str(caught.value).startswith(f"{path}:4:1: invalid YAML")


def test_files_that_are_missing_unreadable_or_not_objects(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such definition file"):
        load(tmp_path / "missing.json")
    with pytest.raises(UsageError, match="is a directory"):
        load(tmp_path)
    array = tmp_path / "array.json"
    array.write_text("[1, 2]")
    with pytest.raises(UsageError, match="must be a JSON object, not an array"):
        load(array)
    with pytest.raises(UsageError, match="<definition text>: a state machine definition must be a JSON object"):
        load(" [1]")
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe{")
    with pytest.raises(UsageError, match="not UTF-8"):
        load(binary)


def test_a_file_that_repeats_a_key_keeps_the_last_value_and_validation_names_it(tmp_path: Path) -> None:
    from lockgate.asl.validate import validate

    path = tmp_path / "machine.asl.json"
    path.write_text('{"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": 1, "Result": 2, "End": true}}}')
    loaded = load(path)
    assert loaded["States"]["A"]["Result"] == 2
    assert [(p.pointer, p.state) for p in validate(loaded)] == [("/States/A/Result", "A")]
    assert validate(load('{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}')) == []


def test_a_yaml_file_that_repeats_a_key_is_refused_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "machine.yaml"
    path.write_text("StartAt: A\nStates:\n  A:\n    Type: Pass\n    Result: 1\n    Result: 2\n    End: true\n")
    with pytest.raises(UsageError) as caught:
        load(path)
    assert str(caught.value) == (
        f"{path}:6:5: invalid YAML: the key 'Result' is given twice in this mapping (keys must be unique; "
        "first at line 5)"
    )
    states = tmp_path / "states.yml"  # a state name given twice
    states.write_text("StartAt: A\nStates:\n  A: {Type: Succeed}\n  B: {Type: Succeed}\n  A: {Type: Fail}\n")
    with pytest.raises(UsageError, match=r"states\.yml:5:3: invalid YAML: the key 'A' is given twice"):
        load(states)


def test_yaml_merge_keys_may_be_overridden(tmp_path: Path) -> None:
    path = tmp_path / "merged.yaml"
    path.write_text(
        "StartAt: A\n"
        "States:\n"
        "  A: &base\n"
        "    Type: Pass\n"
        "    End: true\n"
        "  B:\n"
        "    <<: *base\n"
        "    Type: Succeed\n"
        "  C:\n"
        "    <<: *base\n"
    )
    loaded = load(path)
    assert loaded["States"]["B"] == {"Type": "Succeed", "End": True}
    assert loaded["States"]["C"] == {"Type": "Pass", "End": True}
