import numpy as np
import pytest

from fedward.errors import DataError
from fedward.tabular import load_table


def _write(tmp_path, text, name="site.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_loads_features_and_labels(tmp_path):
    t = load_table(_write(tmp_path, "age,bp,target\n50,120,1\n61,130.5,0\n"), "target")
    assert t.features == ("age", "bp")
    assert t.y == ("1", "0")
    np.testing.assert_array_equal(t.x, np.array([[50, 120], [61, 130.5]], np.float32))


def test_integral_labels_are_one_class(tmp_path):
    t = load_table(_write(tmp_path, "a,target\n1,1\n2,1.0\n3, 1 \n"), "target")
    assert set(t.y) == {"1"}


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("a,b\n1,2\n", "label column 'target' not found"),
        ("a,target\n1,x\n2,\n", "empty label"),
        ("a,target\nhigh,1\n", "column 'a' is not numeric"),
        ("a,target\n1,1,3\n", "3 fields"),
        ("", "empty file"),
        ("a,target\n", "no data rows"),
        ("target\n1\n", "no feature columns"),
        ("a,a,target\n1,2,1\n", "duplicate column"),
        ("a,target\nnan,1\n", "not finite"),
    ],
)
def test_bad_files_name_file_and_problem(tmp_path, text, match):
    path = _write(tmp_path, text)
    with pytest.raises(DataError, match=match) as err:
        load_table(path, "target")
    assert str(path) in err.value.render()


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_table(tmp_path / "nope.csv", "target")
