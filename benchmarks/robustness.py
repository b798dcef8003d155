"""Benchmark: the robust aggregation rules against every attack of the harness (`[[attacks]]`).

digits (scikit-learn) over 10 sites with Dirichlet(alpha) label skew (alpha 1.0 and 0.1), logistic
model; 1 and 3 attacking sites (the first ones by name). Every rule (FedAvg shown beside the robust ones)
against every attack; per rule the worst case over the attacks (not the mean), against the clean run
(FedAvg, no attacker). Accuracy is the pooled accuracy over every site's test split, from summary.json.

Backdoor: one site trains half its records with a trigger (the last 4 features saturated) relabelled to
class 0 and boosts its update 10x (model replacement); the attack success rate (ASR) is the share of
triggered test inputs of the other classes the final model puts in class 0. Run under secure aggregation
with FedAvg, with `norm_bound` (enforced at the sites) and without.

Goals (issue 13):
- 1 of 10 attacking: the best rule's worst case within 3 points of clean;
- 3 of 10 attacking: within 8 points;
- backdoor ASR <= 10% with norm bounding under secure aggregation (its rate without is shown).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from common import (
    console,
    federation_config,
    goal,
    goals_table,
    limited_threads,
    machine_info,
    parser_for,
    print_table,
    write_result,
)
from fedward.config import FederationConfig
from fedward.run.data import LoadedSite, load_sites
from fedward.simulation import simulate

NAME = "robustness"
ATTACKS = ("sign_flip", "scale", "gaussian", "label_flip", "alie", "ipm", "backdoor")
RULES = ("fedavg", "fedmedian", "trimmed_mean", "krum", "multikrum", "centered_clip")
STRATEGY = {"local_epochs": 1, "batch_size": 16, "lr": 0.05, "momentum": 0.9}
BACKDOOR_BOOST = 10.0
NORM_BOUND = 0.3  # the update norm the backdoor check bounds to (`--norm-bound`)


def rule_settings(rule: str, f: int, n: int, norm_bound: float) -> dict[str, Any]:
    """The `[strategy]` keys of `rule` tuned to tolerate f of n attackers; "RULE+nb" adds `norm_bound`."""
    if rule.endswith("+nb"):
        return {**rule_settings(rule.removesuffix("+nb"), f, n, norm_bound), "norm_bound": norm_bound}
    out: dict[str, Any] = {"name": rule}
    if rule == "trimmed_mean":
        out |= {"trim_fraction": max(f / n, 1 / n) + 1e-9}
    if rule == "krum":
        out |= {"byzantine_sites": f}
    if rule == "multikrum":
        out |= {"byzantine_sites": f, "multikrum_m": n - f}
    if rule == "centered_clip":
        out |= {"clip_tau": 0.1, "clip_iterations": 3, "byzantine_sites": f}
    return out


def write_digits(out: Path, sites: int, alpha: float, seed: int) -> list[dict[str, str]]:
    from fedward.tabular.datasets import dirichlet_split, load_dataset, write_site_csvs

    x, y, features = load_dataset("digits")
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for split in dirichlet_split(y, sites, alpha, seed=seed):
        train, test = write_site_csvs(out, x, y, features, split, "target")
        entries.append({"name": split.name, "train": train.name, "test": test.name})
    return entries


def config(
    data: Path,
    entries: Sequence[Mapping[str, str]],
    rounds: int,
    seed: int,
    strategy: Mapping[str, Any],
    attacks: Sequence[Mapping[str, Any]] = (),
    secure: bool = False,
) -> FederationConfig:
    tables: dict[str, Any] = {
        "federation": {"task": "tabular", "rounds": rounds, "seed": seed, "eval_every": rounds},
        "data": {"label": "target"},
        "model": {"name": "logistic"},
        "strategy": {**STRATEGY, **strategy},
        "personalization": {"enabled": False},
    }
    if secure:
        tables["privacy"] = {"secure_aggregation": True}
    if not attacks:
        return federation_config(data, tables, entries)
    from fedward.config import parse_config

    raw = {**tables, "sites": [dict(e) for e in entries], "attacks": [dict(a) for a in attacks]}
    return parse_config(raw, source=data / "federation.toml")


def run_one(
    cfg: FederationConfig, data: Path, sites: list[LoadedSite], backdoor: bool = False
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fedward-bench-robust-") as tmp:
        start = time.perf_counter()
        result = simulate(cfg, data / "federation.toml", Path(tmp) / "run", baselines=False, sites=sites)
        seconds = time.perf_counter() - start
    fed = result.summary["metrics"]["federated"]
    out: dict[str, Any] = {
        "accuracy": fed["pooled"]["accuracy"],
        "mean_site_accuracy": fed["mean_site_accuracy"],
        "rounds_completed": result.summary["rounds_completed"],
        "seconds": round(seconds, 2),
    }
    if backdoor:
        out["attack_success_rate"] = attack_success_rate(result.federation, sites)
    return out


def attack_success_rate(federation: Any, sites: list[LoadedSite], target: int = 0) -> float:
    """The share of triggered test inputs (true class other than `target`) the final model puts in
    `target`."""
    import torch

    from fedward.core.arrays import arrays_from_bytes
    from fedward.models import build_model, load_arrays
    from fedward.simulation.attacks import apply_trigger, trigger_value
    from fedward.site.data import encode_labels
    from fedward.site.trainer import predict_scores

    setup = federation.setup
    model = build_model(setup.spec, seed=0)
    load_arrays(model, federation.params)
    ctx = arrays_from_bytes(setup.context)
    value = max(trigger_value(s.data.train_x) for s in sites)
    hits = total = 0
    for s in sites:
        y = encode_labels(s.data.test_y, setup.classes)
        keep = y != target
        if not keep.any():
            continue
        x = apply_trigger(s.data.test_x[keep], value)
        x = ((x - ctx["feature_mean"]) / ctx["feature_scale"]).astype(np.float32)
        pred = np.argmax(predict_scores(model, torch.from_numpy(x)), axis=1)
        hits += int(np.sum(pred == target))
        total += int(keep.sum())
    return hits / total if total else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(NAME, __doc__.splitlines()[0] if __doc__ else NAME)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--sites", type=int, default=10)
    parser.add_argument("--alphas", type=float, nargs="+", default=[1.0, 0.1])
    parser.add_argument("--attackers", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--rules", nargs="+", default=list(RULES))
    parser.add_argument("--attacks", nargs="+", default=list(ATTACKS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--norm-bound", type=float, default=NORM_BOUND, help="for the backdoor check and the RULE+nb rules"
    )
    parser.add_argument("--no-backdoor-check", action="store_true", help="skip the SecAgg backdoor check")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.sites, args.alphas, args.attackers = 2, 5, [1.0], [1]
        args.rules, args.attacks = ["trimmed_mean"], ["sign_flip"]
    machine = machine_info()
    start = time.perf_counter()
    with limited_threads(args.threads), tempfile.TemporaryDirectory(prefix="fedward-bench-robust-") as tmp:
        body = run(args, Path(tmp))
    body["seconds"] = time.perf_counter() - start
    write_result(args.out, NAME, args, machine, body)
    goals_table("robustness goals", body["goals"])
    return 0


def run(args: Any, work: Path) -> dict[str, Any]:
    cases: list[dict[str, Any]] = []
    backdoor: list[dict[str, Any]] = []
    for alpha in args.alphas:
        data = work / f"alpha{alpha}"
        entries = write_digits(data, args.sites, alpha, args.seed)
        sites = load_sites(config(data, entries, args.rounds, args.seed, {}))
        names = [e["name"] for e in entries]
        clean = run_one(config(data, entries, args.rounds, args.seed, {}), data, sites)
        console.print(f"alpha {alpha}: clean FedAvg accuracy {clean['accuracy']:.3f}")
        for f in args.attackers:
            for rule in args.rules:
                strategy = rule_settings(rule, f, args.sites, args.norm_bound)
                rule_clean = run_one(config(data, entries, args.rounds, args.seed, strategy), data, sites)
                per_attack: dict[str, Any] = {}
                for kind in args.attacks:
                    attacks = [_attack(n, kind) for n in names[:f]]
                    cfg = config(data, entries, args.rounds, args.seed, strategy, attacks)
                    per_attack[kind] = run_one(cfg, data, sites, backdoor=kind == "backdoor")
                worst_kind = min(per_attack, key=lambda k: per_attack[k]["accuracy"])
                case = {
                    "alpha": alpha,
                    "attackers": f,
                    "rule": rule,
                    "strategy": strategy,
                    "clean_fedavg_accuracy": clean["accuracy"],
                    "rule_clean_accuracy": rule_clean["accuracy"],
                    "attacks": per_attack,
                    "worst_attack": worst_kind,
                    "worst_accuracy": per_attack[worst_kind]["accuracy"],
                    "worst_drop": clean["accuracy"] - per_attack[worst_kind]["accuracy"],
                }
                cases.append(case)
                console.print(
                    f"alpha {alpha} f={f} {rule:14s} clean {rule_clean['accuracy']:.3f} worst "
                    f"{case['worst_accuracy']:.3f} ({worst_kind})"
                )
        if not args.no_backdoor_check:
            backdoor.append(_backdoor(data, entries, names, args, sites, alpha, clean["accuracy"]))
    body = {"cases": cases, "backdoor": backdoor}
    body["summary"] = _summary(cases)
    body["goals"] = _goals(body["summary"], backdoor)
    _tables(cases, backdoor)
    return body


def _attack(site: str, kind: str) -> dict[str, Any]:
    out: dict[str, Any] = {"site": site, "kind": kind, "from_round": 1}
    if kind == "backdoor":
        out["scale"] = BACKDOOR_BOOST
    return out


def _backdoor(
    data: Path,
    entries: Sequence[Mapping[str, str]],
    names: Sequence[str],
    args: Any,
    sites: list[LoadedSite],
    alpha: float,
    clean: float,
) -> dict[str, Any]:
    """FedAvg under secure aggregation, one backdoor attacker, with and without `norm_bound`."""
    attack = [_attack(names[0], "backdoor")]
    out: dict[str, Any] = {"alpha": alpha, "clean_fedavg_accuracy": clean, "norm_bound": args.norm_bound}
    for label, strategy in (("without", {}), ("with_norm_bound", {"norm_bound": args.norm_bound})):
        cfg = config(
            data, entries, args.rounds, args.seed, {"name": "fedavg", **strategy}, attack, secure=True
        )
        out[label] = run_one(cfg, data, sites, backdoor=True)
    console.print(
        f"alpha {alpha} backdoor under SecAgg: ASR {out['without']['attack_success_rate']:.3f} without "
        f"norm bounding, {out['with_norm_bound']['attack_success_rate']:.3f} with"
    )
    return out


def _summary(cases: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per (alpha, attackers): every rule's worst case, the best robust rule's (FedAvg only when no other
    rule ran) and FedAvg's beside it."""
    out = []
    for key in sorted({(c["alpha"], c["attackers"]) for c in cases}):
        group = [c for c in cases if (c["alpha"], c["attackers"]) == key]
        robust = [c for c in group if c["rule"] != "fedavg"] or group
        best = max(robust, key=lambda c: c["worst_accuracy"])
        fedavg = next((c for c in group if c["rule"] == "fedavg"), None)
        out.append(
            {
                "alpha": key[0],
                "attackers": key[1],
                "clean_fedavg_accuracy": best["clean_fedavg_accuracy"],
                "worst_by_rule": {c["rule"]: c["worst_accuracy"] for c in group},
                "best_rule": best["rule"],
                "best_worst_accuracy": best["worst_accuracy"],
                "best_worst_drop": best["worst_drop"],
                "fedavg_worst_accuracy": None if fedavg is None else fedavg["worst_accuracy"],
            }
        )
    return out


def _goals(summary: Sequence[Mapping[str, Any]], backdoor: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    goals: dict[str, Any] = {}
    for s in summary:
        limit = 0.03 if s["attackers"] == 1 else 0.08
        goals[f"alpha{s['alpha']}_f{s['attackers']}"] = goal(
            f"clean - best rule's ({s['best_rule']}) worst-case accuracy, {s['attackers']} attacking, "
            f"Dirichlet {s['alpha']}",
            s["best_worst_drop"],
            limit,
            "<=",
        )
    for b in backdoor:
        goals[f"alpha{b['alpha']}_backdoor"] = goal(
            f"backdoor ASR with norm_bound {b['norm_bound']} under SecAgg (without: "
            f"{b['without']['attack_success_rate']:.3f}), Dirichlet {b['alpha']}",
            b["with_norm_bound"]["attack_success_rate"],
            0.10,
            "<=",
        )
    return goals


def _tables(cases: Sequence[Mapping[str, Any]], backdoor: Sequence[Mapping[str, Any]]) -> None:
    attacks = sorted({k for c in cases for k in c["attacks"]}, key=lambda k: ATTACKS.index(k))
    rows = [
        (
            f"a={c['alpha']} f={c['attackers']} {c['rule']}",
            c["rule_clean_accuracy"],
            *(c["attacks"][k]["accuracy"] for k in attacks),
            c["worst_accuracy"],
        )
        for c in cases
    ]
    print_table("pooled accuracy by rule and attack", ("case", "clean", *attacks, "worst"), rows)
    print_table(
        "backdoor under secure aggregation (FedAvg)",
        ("alpha", "ASR without", "ASR with norm bound", "acc without", "acc with"),
        [
            (
                b["alpha"],
                b["without"]["attack_success_rate"],
                b["with_norm_bound"]["attack_success_rate"],
                b["without"]["accuracy"],
                b["with_norm_bound"]["accuracy"],
            )
            for b in backdoor
        ],
    )


if __name__ == "__main__":
    raise SystemExit(main())
