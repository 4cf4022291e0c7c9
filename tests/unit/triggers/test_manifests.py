import pytest

from lockgate.core.errors import UsageError
from lockgate.triggers.manifests import MISSING_FILES, check_event, parse_manifest, resolve


def test_json_list_object_and_csv_manifests_list_their_paths() -> None:
    assert parse_manifest('["a.csv", "sub/b.csv"]', "m.json") == ["a.csv", "sub/b.csv"]
    assert parse_manifest('{"files": ["a.csv"]}', "manifest.json") == ["a.csv"]
    assert parse_manifest("a.csv\n\nsub/b.csv\r\n", "manifest.csv") == ["a.csv", "sub/b.csv"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2", r"manifest m.json: line 1: invalid JSON"),
        ('{"paths": []}', r"expected a JSON list of paths"),
        ('["a", 3]', r"files\[1\] is 3, not a path"),
    ],
)
def test_bad_manifests_name_the_manifest_and_the_fault(text, message) -> None:
    with pytest.raises(UsageError, match=message):
        parse_manifest(text, "m.json")


def test_paths_resolve_against_the_manifest_folder() -> None:
    assert resolve("s3://b/in/manifest.json", "a.csv") == "s3://b/in/a.csv"
    assert resolve("s3://b/in/manifest.json", "../other/a.csv") == "s3://b/other/a.csv"
    assert resolve("s3://b/in/manifest.json", "/top/a.csv") == "s3://b/top/a.csv"
    assert resolve("file:///data/in/m.json", "x/a.csv") == "file:///data/in/x/a.csv"
    assert resolve("file:///data/in/m.json", "s3://b/k") == "s3://b/k"


def test_every_missing_file_is_named(tmp_path) -> None:
    (tmp_path / "here.csv").write_text("x")
    files = [(tmp_path / n).as_uri() for n in ("here.csv", "gone1.csv", "gone2.csv")]
    error, cause = check_event({"manifest": "file:///m.json", "files": files})
    assert error == MISSING_FILES
    assert "lists 2 file(s) that do not exist" in cause
    assert files[1] in cause and files[2] in cause and files[0] not in cause
    assert check_event({"manifest": "file:///m.json", "files": files[:1]}) is None
