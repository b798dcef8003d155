"""`[compression]` end to end in-process: int8 reaches about the accuracy of float32 updates with about a
quarter of the upload bytes; every run records its payload bytes per round and in total."""

import json

from federations import run_cli, tabular_federation


def _run(tmp_path, name: str, extra: str) -> tuple[dict, list[dict]]:
    cfg = tabular_federation(tmp_path / name, rounds=4, extra=extra, model="mlp")
    out = tmp_path / name / "run"
    assert run_cli(["simulate", str(cfg), "--out", str(out), "--no-baselines"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return summary, rows


def test_int8_matches_float32_with_a_quarter_of_the_upload(tmp_path):
    plain, plain_rows = _run(tmp_path, "none", "")
    int8, int8_rows = _run(tmp_path, "int8", '[compression]\nkind = "int8"\n')
    topk, _ = _run(tmp_path, "topk", '[compression]\nkind = "topk"\ntopk_fraction = 0.05\n')
    for summary, rows in ((plain, plain_rows), (int8, int8_rows)):
        assert all(r["bytes_up"] > 0 and r["bytes_down"] > 0 for r in rows)
        assert summary["communication"]["bytes_up"] == sum(r["bytes_up"] for r in rows)
        assert summary["communication"]["bytes_down"] == sum(r["bytes_down"] for r in rows)
    up, down = plain["communication"], int8["communication"]
    assert 3.5 < up["bytes_up"] / down["bytes_up"] < 4.1  # float32 -> int8 (+ a scale per tensor)
    assert up["bytes_down"] == down["bytes_down"]  # the global model still goes down in float32
    assert up["bytes_up"] / topk["communication"]["bytes_up"] > 5
    assert int8["communication"]["compression"] == "int8"
    acc = [s["metrics"]["federated"]["pooled"]["accuracy"] for s in (plain, int8)]
    assert acc[0] > 0.85 and abs(acc[0] - acc[1]) <= 0.03
    assert not int8["failures"] and not topk["failures"]
