"""`[data] missing`: refuse names the site, file, line and column (exit 2); impute fills each gap with the
mean over every site's non-missing values, exactly as pooled imputation does, adds `<feature>__missing`
indicators, and handles a column a site never recorded."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from federations import run_cli, tabular_federation

from fedward.tabular import feature_sums, federated_context, impute_values, prepare


def _sites(seed: int = 0) -> list[pd.DataFrame]:
    """Three sites; dyadic values (quarters), so every sum is exact in float32 and float64."""
    rng = np.random.default_rng(seed)
    frames = []
    for n in (40, 25, 33):
        f = pd.DataFrame(rng.integers(-400, 400, size=(n, 3)) / 4.0, columns=["a", "b", "c"])
        f = f.mask(rng.random(f.shape) < 0.2)
        frames.append(f)
    frames[1] = frames[1].drop(columns=["b"])  # site 1 never recorded b
    return frames


def _context(frames: list[pd.DataFrame]) -> tuple[list[str], dict[str, np.ndarray]]:
    parts = [(tuple(f.columns), feature_sums(f.to_numpy(np.float32))) for f in frames]
    return federated_context(parts, impute=True)


def test_imputation_equals_pooled_imputation_exactly():
    frames = _sites()
    names, ctx = _context(frames)
    pooled = pd.concat(frames, ignore_index=True)  # b is NaN in all of site 1's rows
    assert names == ["a", "b", "c", "a__missing", "b__missing", "c__missing"]
    values = {f: v for f, v, _ in impute_values(ctx)}
    means = pooled.mean()  # pandas: the mean of the non-missing values
    for f in ("a", "b", "c"):
        assert values[f] == np.float32(means[f])
    ours = np.concatenate([prepare(f.to_numpy(np.float32), tuple(f.columns), ctx) for f in frames])
    filled = pooled.fillna(means.astype(np.float32))
    expected = pd.concat([filled, pooled.isna().add_suffix("__missing").astype(np.float64)], axis=1)
    raw = ours * ctx["feature_scale"] + ctx["feature_mean"]
    np.testing.assert_allclose(raw, expected.to_numpy(np.float64), rtol=0, atol=1e-4)
    # and the standardization is the pooled imputed rows' own
    np.testing.assert_allclose(ctx["feature_mean"], expected.mean().to_numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ctx["feature_scale"], expected.std(ddof=0).to_numpy(), rtol=1e-5)


def test_site_that_never_recorded_a_column_gets_the_indicator_and_the_federated_mean():
    frames = _sites()
    names, ctx = _context(frames)
    site1 = frames[1]
    x = prepare(site1.to_numpy(np.float32), tuple(site1.columns), ctx)
    raw = x * ctx["feature_scale"] + ctx["feature_mean"]
    b_mean = pd.concat([frames[0]["b"], frames[2]["b"]]).mean()
    assert np.allclose(raw[:, names.index("b")], b_mean, atol=1e-4)
    assert np.allclose(raw[:, names.index("b__missing")], 1.0)


def test_without_impute_different_columns_are_refused():
    """Power check for the refusal: the same parts go through only with impute=True."""
    import pytest

    from fedward.errors import FederationError

    frames = _sites()
    parts = [(tuple(f.columns), feature_sums(f.to_numpy(np.float32))) for f in frames]
    with pytest.raises(FederationError, match="missing"):
        federated_context(parts, impute=False)
    assert federated_context(parts, impute=True)[0]


def _gaps(cfg: Path) -> None:
    """Blank 10% of 'mean_radius' at sites 0 and 2 and drop 'mean_texture' at site 1 (train and test)."""
    rng = np.random.default_rng(3)
    for site in ("site_00", "site_01", "site_02"):
        for split in ("train", "test"):
            p = cfg.parent / f"{site}_{split}.csv"
            f = pd.read_csv(p)
            if site == "site_01":
                f = f.drop(columns=["mean_texture"])
            else:
                f.loc[rng.random(len(f)) < 0.1, "mean_radius"] = np.nan
                f.loc[f.index[0], "mean_radius"] = np.nan  # at least one gap per file
            f.to_csv(p, index=False)


def test_refuse_names_site_file_line_and_column(tmp_path, capsys):
    cfg = tabular_federation(tmp_path)
    _gaps(cfg)
    assert run_cli(["simulate", str(cfg), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "site_00" in err and "site_00_train.csv" in err and "line 2" in err and "'mean_radius'" in err
    assert not (tmp_path / "run").exists()


def test_simulate_runs_under_impute(tmp_path):
    cfg = tabular_federation(tmp_path, extra='[data]\nmissing = "impute"\n')
    text = (
        cfg.read_text()
        .replace('[data]\nlabel = "target"\n', "")
        .replace('missing = "impute"', 'label = "target"\nmissing = "impute"')
    )
    cfg.write_text(text)
    _gaps(cfg)
    out = tmp_path / "run"
    assert run_cli(["simulate", str(cfg), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"]["federated"]["pooled"]["accuracy"] > 0.85
    assert summary["metrics"]["centralized"]["pooled"]["accuracy"] > 0.85


def test_release_carries_the_imputation_and_predict_imputes_the_same_way(tmp_path):
    """`fedward predict` on each site's gappy test CSV (site_01's lacks a column) gives the run's own
    per-site accuracy: the release imputes exactly as the sites did."""
    import csv

    from fedward.config import load_config
    from fedward.release.inference import InferenceSpec

    cfg = tabular_federation(tmp_path, rounds=2)
    cfg.write_text(cfg.read_text().replace('label = "target"', 'label = "target"\nmissing = "impute"'))
    _gaps(cfg)
    run = tmp_path / "run"
    assert run_cli(["simulate", str(cfg), "--out", str(run), "--no-baselines"]) == 0
    final = run / "releases" / "final"
    spec = InferenceSpec.from_bytes((final / "inference.json").read_bytes())
    assert spec.impute is not None and set(spec.impute) == {f for f in spec.features if "__" not in f}
    assert "mean_radius__missing" in spec.features and "mean_texture__missing" in spec.features
    summary = json.loads((run / "summary.json").read_text())
    for site in load_config(cfg).sites:
        out = tmp_path / f"{site.name}.csv"
        argv = ["predict", "--release", str(final), "--input", str(site.test), "--out", str(out)]
        assert run_cli(argv) == 0
        with out.open(newline="") as fh:
            got = [r["class"] for r in csv.DictReader(fh)]
        truth = [str(int(v)) for v in pd.read_csv(site.test)["target"]]
        accuracy = np.mean([a == b for a, b in zip(got, truth, strict=True)])
        assert accuracy == pytest.approx(summary["metrics"]["federated"]["sites"][site.name]["accuracy"])


def test_a_column_named_like_an_indicator_is_refused():
    frames = _sites()
    frames[0] = frames[0].rename(columns={"c": "a__missing"})
    parts = [(tuple(f.columns), feature_sums(f.to_numpy(np.float32))) for f in frames]
    from fedward.errors import FederationError

    with pytest.raises(FederationError, match="clash"):
        federated_context(parts, impute=True)
