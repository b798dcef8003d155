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


def test_a_patient_column_is_a_key_not_a_feature(tmp_path):
    t = load_table(_write(tmp_path, "age,pid,target\n50,A-1,1\n61,A-1,0\n70,B 2,1\n"), "target", "pid")
    assert t.features == ("age",)
    assert t.x.shape == (3, 1)
    assert t.patients == ("A-1", "A-1", "B 2")
    assert load_table(_write(tmp_path, "age,target\n50,1\n"), "target").patients == ()


@pytest.mark.parametrize(
    ("text", "patient", "message"),
    [
        ("age,target\n50,1\n", "pid", "patient column 'pid' not found"),
        ("age,pid,target\n50,,1\n", "pid", "line 2: empty patient key in column 'pid'"),
        ("age,target\n50,1\n", "target", "also the label column"),
    ],
)
def test_patient_column_errors_name_the_file_and_line(tmp_path, text, patient, message):
    path = _write(tmp_path, text)
    with pytest.raises(DataError, match=message) as err:
        load_table(path, "target", patient)
    assert err.value.where == str(path)
