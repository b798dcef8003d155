"""The site node: answers DESCRIBE, FIT, EVALUATE and PERSONALIZE tasks from its local data.

What leaves the site: aggregate statistics (counts, per-feature sums and sums of squares, the set of
label values, the number of distinct training patients when the data names them), model parameters
after local training, and confusion counts on the local test data with the metrics computed from them
and from the test scores (the AUC); where the site's labels.csv names senders, the accuracy and count on
test records from senders its training records hold (seen) and from the others (unseen). Which senders
are seen depends on the training records, outside what differential privacy protects, so under DP those
four figures follow the personalization rule below (`_shares_sender_split`).
For validation (docs/validation.md) an evaluation also carries the global model's expected calibration
error (`ece`) and reliability bins, for pages the count and right answers per quality band (from this
site's own preprocessing measurements), and the confidence threshold chosen on the validation split for
the task's target accuracy with the test coverage it leaves; the threshold depends on training-period
records, so it follows the same rule (`_threshold`).
Rows never leave. Any exception becomes a FAILED reply naming the site, never a crash of the round.

PERSONALIZE (site/personalize.py): the site fine-tunes the global model, trains its own, and picks one
by its validation split. The models stay here (`Site.personalization`; a deployed site also writes them
to its own folder, `models/RUN_ID/` in its kit: `keep_models`). The reply carries confusion counts on
the test split per candidate, their validation scores and the recommendation; under differential
privacy those figures depend on training records outside the DP guarantee, so they leave only without
DP, with the built-in simulation policy (whose operator holds every site's data already), or when the
site's policy says `share_personalization = true`; otherwise only the global model's counts leave.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from fedward.config import DpMode
from fedward.core.arrays import Arrays, add, arrays_from_bytes, arrays_to_bytes, flatten
from fedward.core.calibration import choose_threshold, reliability
from fedward.core.compress import CompressionSettings, encode_int8, encode_topk
from fedward.core.messages import JSONScalar, JSONValue, Reply, ReplyStatus, Task, TaskKind
from fedward.core.metrics import scored_metrics, sender_metrics
from fedward.documents.quality import quality_bands
from fedward.models import ModelSpec, build_model, load_arrays, model_arrays
from fedward.secagg import SecAggSite
from fedward.secagg.task import SecAggTask
from fedward.settings import DpSettings, PersonalizeSettings, TrainSettings
from fedward.site.data import LocalData, encode_labels
from fedward.site.personalize import Personalization, Split, keep_models, personalize
from fedward.site.policy import PolicyResult
from fedward.site.protect import protect_update, train_for_task
from fedward.site.trainer import predict_scores
from fedward.site.trust import SiteTrust
from fedward.tabular import feature_sums, prepare

__all__ = ["Site"]


@dataclass(frozen=True)
class _Pending:
    """A fit whose update leaves later, in the secure-aggregation session: what its package needs."""

    task: Task
    num_samples: int
    metrics: dict[str, float]
    info: dict[str, JSONValue]
    policy: PolicyResult


class Site:
    def __init__(
        self, name: str, data: LocalData, trust: SiteTrust | None = None, keep_dir: Path | None = None
    ) -> None:
        self._name = name
        self._keep_dir = keep_dir  # where personalization writes this site's models (None: memory only)
        self.data = data
        self.trust = trust  # policy, ledger checks and package signing; None only in bare unit tests
        self._model: tuple[ModelSpec, torch.nn.Module] | None = None  # reused while the architecture holds
        self._sessions: dict[tuple[str, int], SecAggSite] = {}  # this round's secure-aggregation session
        self._pending: dict[tuple[str, int], _Pending] = {}
        self.personalization: dict[str, Personalization] = {}  # by run id: the site's own models, kept
        # by run id: what top-k compression has not sent yet (error feedback), kept across the rounds
        # the site sits out, added to its next update
        self.residuals: dict[str, Arrays] = {}
        self._dp_runs: set[str] = set()  # the runs this site trained under differential privacy

    @property
    def name(self) -> str:
        return self._name

    def handle(self, task: Task) -> Reply:
        if task.site != self._name:
            return Reply.failure(
                task, ReplyStatus.FAILED, f"task addressed to {task.site!r}, not {self._name!r}"
            )
        try:
            if task.kind is TaskKind.DESCRIBE:
                return self._describe(task)
            if task.kind is TaskKind.FIT:
                return self._fit(task)
            if task.kind is TaskKind.SECAGG:
                return self._secagg(task)
            if task.kind is TaskKind.PERSONALIZE:
                return self._personalize(task)
            return self._evaluate(task)
        except Exception as exc:
            return Reply.failure(task, ReplyStatus.FAILED, f"site {self._name}: {type(exc).__name__}: {exc}")

    def _ok(self, task: Task, **fields: Any) -> Reply:
        """This site's OK reply to `task`, carrying `fields` (parameters, num_samples, metrics, info...)."""
        return Reply(task.run_id, task.round, self._name, task.kind, ReplyStatus.OK, **fields)

    def _describe(self, task: Task) -> Reply:
        d = self.data
        counts = Counter(d.train_y)
        metrics = {
            "n_train": float(len(d.train_y)),
            "n_test": float(len(d.test_y)),
            "n_validation": float(len(d.val_y)),
        }
        if d.train_patients:  # the unit count under `[privacy] unit = "patient"` (DP-SGD's sample rate)
            metrics["n_patients"] = float(d.num_patients)
        metrics.update({f"train_class/{label}": float(n) for label, n in sorted(counts.items())})
        labels: list[JSONScalar] = [*sorted(set(d.train_y) | set(d.test_y))]
        features: list[JSONScalar] = [*d.features]
        info: dict[str, JSONValue] = {"labels": labels, "features": features}
        stats = b""
        if not d.standardizable:
            metrics["image_size"] = float(d.train_x.shape[-1])
        else:
            stats = arrays_to_bytes(feature_sums(d.train_x))
        return self._ok(
            task,
            parameters=stats,
            num_samples=len(d.train_y),
            metrics=metrics,
            info=info,
        )

    def _fit(self, task: Task) -> Reply:
        policy = self._check(task, len(self.data.train_y))
        settings, dp = TrainSettings.from_config(task.config), DpSettings.from_config(task.config)
        model, classes = self._model_for(task)
        start_params = arrays_from_bytes(task.parameters)
        train_x, train_y = self._training_data(task)
        x = torch.from_numpy(self._inputs(train_x, task.context))
        y = torch.from_numpy(encode_labels(train_y, classes))
        start = time.perf_counter()
        if dp.mode != DpMode.NONE:
            self._dp_runs.add(task.run_id)
        loss, info = train_for_task(model, x, y, settings, dp, self.data.train_patients)
        seconds = time.perf_counter() - start
        params = model_arrays(model, copy=False)  # serialized right away: views are enough
        params = self._poisoned(task, start_params, params)
        payload = self._protected(task, dp, settings.norm_bound, start_params, params, len(y))
        # under DP the training loss is a function of the private records: it stays at the site
        metrics = {} if dp.mode != DpMode.NONE else {"train_loss": loss}
        if self.trust is not None and policy is not None:
            if not SecAggTask.in_config(task.config):
                info |= self.trust.package_fields(
                    task, payload, num_samples=len(y), metrics=metrics, info=info, policy=policy, secure=False
                )
            else:  # the package goes with the masked update, later in the session
                self._pending = {
                    (task.run_id, task.round): _Pending(task, len(y), metrics, dict(info), policy)
                }
        return self._ok(
            task,
            parameters=payload,
            num_samples=len(y),
            metrics=metrics,
            info=info,
            train_seconds=seconds,
        )

    def _training_data(self, task: Task) -> tuple[npt.NDArray[np.float32], tuple[str, ...]]:
        """The records a fit task trains on: the site's training split. A seam for the simulation's
        attack harness alone (fedward.simulation.attacks), which poisons them before training."""
        return self.data.train_x, self.data.train_y

    def _poisoned(self, task: Task, start: Arrays, trained: Arrays) -> Arrays:
        """The trained model as it goes on to be protected, signed and sent: as trained. A seam for the
        simulation's attack harness alone, so an attacked update passes every later step as an honest
        one does."""
        return trained

    def _check(self, task: Task, num_samples: int) -> PolicyResult | None:
        """The site's own checks before it touches a model: its policy, and the model against the ledger."""
        if self.trust is None:
            return None
        self.trust.check_model(task)
        return self.trust.check_policy(task, num_samples) if task.kind is TaskKind.FIT else None

    def _protected(
        self,
        task: Task,
        dp: DpSettings,
        norm_bound: float | None,
        start: Arrays,
        trained: Arrays,
        num_samples: int,
    ) -> bytes:
        """What leaves the site: the model, the clipped model (norm bound, site-level DP), the compressed
        update (after any clipping: post-processing), or a SecAgg session opening."""
        secure = SecAggTask.in_config(task.config)
        compression = CompressionSettings.from_config(task.config)
        if compression.kind != "none":
            if secure:  # the config refuses this pair; a task asking for it is refused too
                raise ValueError("compressed updates do not work with secure aggregation")
            return self._compressed(task.run_id, protect_update(start, trained, dp, norm_bound), compression)
        if not secure and dp.mode != DpMode.SITE and norm_bound is None:
            return arrays_to_bytes(trained)
        update = protect_update(start, trained, dp, norm_bound)
        if not secure:
            return arrays_to_bytes(add(start, update))
        spec = SecAggTask.from_config(task.config)
        vector = spec.encode_update(flatten(update), num_samples)
        if self.trust is None:
            session = SecAggSite(spec.session, self._name, vector)
        else:  # sign this site's keys, and accept only neighbours' keys their own identity signed
            session = SecAggSite(
                spec.session, self._name, vector, identity=self.trust.key, peer_keys=self.trust.peer_keys
            )
        self._sessions = {(task.run_id, task.round): session}  # a new round closes any older session
        return session.start()

    def _compressed(self, run_id: str, update: Arrays, compression: CompressionSettings) -> bytes:
        """The update as int8, or its top-k entries with the residual carried to the next round."""
        if compression.kind == "int8":
            return encode_int8(update)
        residual = self.residuals.get(run_id)
        if residual is not None:
            update = add(update, residual)
        payload, self.residuals[run_id] = encode_topk(update, compression.topk_fraction)
        return payload

    def _secagg(self, task: Task) -> Reply:
        session = self._sessions.get((task.run_id, task.round))
        if session is None:
            raise ValueError(f"no secure-aggregation session is open for round {task.round}")
        out = session.receive(task.parameters)
        info: dict[str, JSONValue] = {}
        stage = task.config.get("secagg_stage")
        pending = self._pending.get((task.run_id, task.round))
        if stage == "mask" and self.trust is not None and pending is not None:
            info |= self.trust.package_fields(
                pending.task,
                out,
                num_samples=pending.num_samples,
                metrics=pending.metrics,
                info=pending.info,
                policy=pending.policy,
                secure=True,
            )
        if stage == "unmask":
            del self._sessions[(task.run_id, task.round)]
        return self._ok(task, parameters=out, info=info)

    def _evaluate(self, task: Task) -> Reply:
        self._check(task, len(self.data.test_y))
        model, classes = self._model_for(task)
        x = torch.from_numpy(self._inputs(self.data.test_x, task.context))
        y = encode_labels(self.data.test_y, classes)
        scores = predict_scores(model, x)
        cm, metrics = scored_metrics(y, scores, classes)
        correct = scores.argmax(axis=1) == y
        confidence = scores.max(axis=1) if len(y) else np.zeros(0)
        if self._shares_sender_split(task.run_id):
            metrics |= sender_metrics(correct, self.data.test_senders, self.data.seen_senders)
        bins = reliability(np.clip(confidence, 0.0, 1.0), correct)
        if bins.ece is not None:
            metrics["ece"] = bins.ece
        info: dict[str, JSONValue] = {
            "reliability/n": [*bins.n],
            "reliability/correct": [*bins.correct],
            "reliability/confidence_sum": [*bins.confidence_sum],
        }
        info |= self._quality_counts(correct)
        info |= self._threshold(task, model, classes, confidence, correct)
        return self._ok(
            task,
            parameters=arrays_to_bytes({"confusion": cm}),
            num_samples=len(y),
            metrics=metrics,
            info=info,
        )

    def _quality_counts(self, correct: npt.NDArray[np.bool_]) -> dict[str, JSONValue]:
        """Documents: per quality dimension and band (from this site's own preprocessing measurements),
        how many test pages and how many classified right: `quality/<dimension>/<band>/{n,correct}`."""
        out: dict[str, JSONValue] = {}
        if not self.data.test_quality:  # tabular data, or pages loaded without measurements
            return out
        for quality, hit in zip(self.data.test_quality, correct, strict=True):
            for dimension, band in quality_bands(quality).items():
                key = f"quality/{dimension}/{band}"
                n, right = out.get(f"{key}/n", 0), out.get(f"{key}/correct", 0)
                assert isinstance(n, int) and isinstance(right, int)
                out[f"{key}/n"], out[f"{key}/correct"] = n + 1, right + int(hit)
        return out

    def _threshold(
        self,
        task: Task,
        model: torch.nn.Module,
        classes: list[str],
        confidence: npt.NDArray[np.float64],
        correct: npt.NDArray[np.bool_],
    ) -> dict[str, JSONValue]:
        """The confidence threshold chosen on this site's validation split for the task's target accuracy
        (`validation_target_accuracy`), and the share of test records it leaves to automation (coverage)
        and to human review. The validation records are training-period records: under DP the threshold
        follows the rule of the seen/unseen figures (`_shares_sender_split`) and otherwise stays here."""
        target = task.config.get("validation_target_accuracy", 0.95)
        if not isinstance(target, int | float) or isinstance(target, bool):
            raise ValueError(f"validation_target_accuracy must be a number, got {target!r}")
        if not self._shares_sender_split(task.run_id):
            return {"threshold_status": "kept_at_site"}
        d = self.data
        if d.val_x is None or not d.val_y:
            return {"threshold_status": "no_validation_split"}
        val = predict_scores(model, torch.from_numpy(self._inputs(d.val_x, task.context)))
        val_hits = val.argmax(axis=1) == encode_labels(d.val_y, classes)
        threshold = choose_threshold(val.max(axis=1), val_hits, float(target))
        info: dict[str, JSONValue] = {"n_validation": len(d.val_y), "target_accuracy": float(target)}
        if threshold is None:  # nothing reaches the target: every record goes to review
            return info | {"threshold_status": "unreachable", "coverage": 0.0, "review_share": 1.0}
        automated = confidence >= threshold
        coverage = float(automated.mean()) if len(automated) else 0.0
        info |= {
            "threshold_status": "chosen",
            "threshold": threshold,
            "validation_coverage": float((val.max(axis=1) >= threshold).mean()),
            "coverage": coverage,
            "review_share": 1.0 - coverage,
            "automated_n": int(automated.sum()),
            "automated_correct": int(correct[automated].sum()),
        }
        return info

    def _personalize(self, task: Task) -> Reply:
        self._check(task, len(self.data.test_y))
        model, classes = self._model_for(task)
        d = self.data
        context = arrays_from_bytes(task.context)
        initial = {k.removeprefix("init/"): v for k, v in context.items() if k.startswith("init/")}
        scale = {k: v for k, v in context.items() if not k.startswith("init/")}

        def split(x: npt.NDArray[np.float32], y: tuple[str, ...]) -> Split:
            return Split(torch.from_numpy(self._standardized(x, scale)), encode_labels(y, classes))

        if d.val_x is None:
            raise ValueError("no validation split: the site was loaded without [personalization]")
        data = (
            split(d.train_x, d.train_y),
            split(d.val_x, d.val_y),
            split(*d.all_train),
            split(d.test_x, d.test_y),
        )
        outcome = personalize(
            model,
            arrays_from_bytes(task.parameters),
            initial,
            data,
            classes,
            TrainSettings.from_config(task.config),
            PersonalizeSettings.from_config(task.config),
        )
        self.personalization[task.run_id] = outcome
        if self._keep_dir is not None:
            keep_models(self._keep_dir, task.run_id, outcome, arrays_from_bytes(task.parameters))
        shared = list(outcome.arms) if self._shares_figures(task) else ["global"]
        info: dict[str, JSONValue] = {
            "recommended": outcome.recommended if len(shared) > 1 else None,
            "n_validation": outcome.n_validation,
        }
        for a in shared:  # flat keys: a reply's info holds scalars and lists only
            arm = outcome.arms[a]
            info |= {f"test/{a}/{k}": v for k, v in arm.test.items() if not k.startswith("recall/")}
            info |= {
                f"validation/{a}/{k}": v for k, v in arm.validation.items() if not k.startswith("recall/")
            }
            info[f"epochs/{a}"] = arm.epochs
        return self._ok(
            task,
            parameters=arrays_to_bytes({a: outcome.arms[a].confusion for a in shared}),
            num_samples=len(d.test_y),
            metrics=dict(outcome.arms["global"].test),
            info=info,
        )

    def _shares_sender_split(self, run_id: str) -> bool:
        """Whether the seen/unseen-sender figures may leave an evaluation. Which senders count as seen is
        a fact about the training records, which differential privacy protects: one training page from a
        sender moves that sender's test records from unseen to seen. An evaluation task does not say
        whether the run trains under DP, so the site decides from what it knows itself: its policy
        requires DP, or it trained this run under DP. Then the rule of `_shares_figures` applies."""
        if self.trust is None:
            return True
        policy = self.trust.policy
        if policy.is_simulation_default or policy.share_personalization:
            return True
        return policy.require_dp == "none" and run_id not in self._dp_runs

    def _shares_figures(self, task: Task) -> bool:
        """Whether the personalized and local candidates' figures may leave: always without DP; under DP
        only when the site's policy says `share_personalization = true`, with the simulation's built-in
        policy, or in a bare site with no trust set up."""
        if DpSettings.from_config(task.config).mode == DpMode.NONE or self.trust is None:
            return True
        policy = self.trust.policy
        return policy.is_simulation_default or policy.share_personalization

    def _model_for(self, task: Task) -> tuple[torch.nn.Module, list[str]]:
        classes = task.config.get("classes")
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise ValueError("task config lacks the federation's class list")
        spec = ModelSpec.from_config(task.config)
        if spec.code is not None and self.trust is not None:  # checked before the code is imported
            self.trust.check_model_code(spec)
        if self._model is None or self._model[0] != spec:
            self._model = (spec, build_model(spec, seed=0))
        model = self._model[1]
        load_arrays(model, arrays_from_bytes(task.parameters, copy=False))
        return model, [str(c) for c in classes]

    def _inputs(self, x: npt.NDArray[np.float32], context: bytes) -> npt.NDArray[np.float32]:
        if not self.data.standardizable:
            return x
        return self._standardized(x, arrays_from_bytes(context))

    def _standardized(self, x: npt.NDArray[np.float32], ctx: Arrays) -> npt.NDArray[np.float32]:
        """Tabular features in the federation's standardization (`ctx`); page images as they are."""
        if not self.data.standardizable:
            return x
        # aligned to the federation's features and imputed first where [data] missing = "impute"
        return prepare(x, self.data.features, ctx)
