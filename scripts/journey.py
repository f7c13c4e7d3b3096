"""The Modelgate workflow as one journey, through the Python client against a running server:

train a small real model → evaluate → register (artifacts, metrics, params, environment,
git, dataset) → tag and alias → request Staging → approve → request Production → two
approvals → Production → a better version replaces it (the old one archived, its files
moved to the archive by the worker) → deploy → report live metrics → a monitor breaches →
retrain request → a new version trained for it, its parent recorded → promoted through the
same gates → the model's timeline.

    make journey          # against `make run`'s server on http://127.0.0.1:8000
    .venv/bin/python scripts/journey.py --url URL --tokens TOKENS.json

TOKENS.json maps the demo accounts (contributor, reviewer, reviewer2, maintainer) to API
tokens: `python manage.py demo_tokens` prints them. The test suite runs the same journey
against its live server (tests/test_journey.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import pickle
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
Say = Callable[[str], None]


def train(c: float, seed: int = 7) -> tuple[Any, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A scikit-learn classifier on the bundled breast-cancer data: the fitted model, its
    metrics by split, its parameters and the dataset it was trained on."""
    import numpy as np
    import sklearn
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = load_breast_cancer()
    x_train, x_rest, y_train, y_rest = train_test_split(
        data.data, data.target, test_size=0.4, random_state=seed, stratify=data.target
    )
    x_val, x_test, y_val, y_test = train_test_split(
        x_rest, y_rest, test_size=0.5, random_state=seed, stratify=y_rest
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000))
    model.fit(x_train, y_train)

    def scores(x: Any, y: Any) -> dict[str, float]:
        proba = model.predict_proba(x)[:, 1]
        return {"auc": round(float(roc_auc_score(y, proba)), 5),
                "accuracy": round(float(accuracy_score(y, proba > 0.5)), 5)}  # fmt: skip

    metrics = {"train": scores(x_train, y_train), "validation": scores(x_val, y_val),
               "test": scores(x_test, y_test)}  # fmt: skip
    digest = hashlib.sha256(np.ascontiguousarray(data.data).tobytes()).hexdigest()
    dataset = {"name": "sklearn/breast_cancer", "version": sklearn.__version__,
               "digest": f"sha256:{digest}", "rows": int(data.data.shape[0]),
               "uri": "sklearn.datasets.load_breast_cancer"}  # fmt: skip
    params = {"C": c, "max_iter": 5000, "scaler": "standard", "seed": seed}
    return model, metrics, params, dataset


def _files(model: Any, metrics: dict[str, Any], where: Path) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    # The client side may pickle its own model; the server never unpickles what it stores.
    (where / "model.pkl").write_bytes(pickle.dumps(model))
    (where / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return where


def _promote(clients: dict[str, Any], team: str, name: str, version: str, to: str,
             why: str, say: Say) -> None:  # fmt: skip
    request = clients["contributor"].request_promotion(team, name, version, to, why)
    reviewers = ["reviewer"] if to == "staging" else ["reviewer", "reviewer2"]
    say(f"   request #{request['id']}: {version} -> {to}, needs "
        f"{request['required_approvals']} approval(s)")  # fmt: skip
    for who in reviewers:
        clients[who].review(request["id"], "approve", f"{who}: looks good")
        say(f"   {who} approved")
    stage = clients["contributor"].get_version(team, name, version)["stage"]
    if stage != to:
        raise RuntimeError(f"{version} is {stage} after the approvals, not {to}")


def _wait(check: Callable[[], bool], what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.5)


def run(url: str, tokens: dict[str, str], team: str = "growth", say: Say = print) -> dict[str, Any]:
    """Run the journey; returns what a test checks."""
    sys.path.insert(0, str(ROOT / "client"))
    from modelgate_client import Client, ModelgateError

    clients = {who: Client(url, token, progress=False) for who, token in tokens.items()}
    mg = clients["contributor"]
    name = f"journey-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}"
    work = Path(tempfile.mkdtemp(prefix="modelgate-journey-"))
    result: dict[str, Any] = {"model": f"{team}/{name}"}

    say("1. Train and evaluate a classifier (scikit-learn, breast-cancer data)")
    model, metrics, params, dataset = train(c=0.01)
    say(f"   test AUC {metrics['test']['auc']}, accuracy {metrics['test']['accuracy']}")

    say(f"2. Register {team}/{name} 1.0.0 with the Python client")
    mg.create_model(team, name, description="The journey's classifier.",
                    task_type="classification", framework="scikit-learn")  # fmt: skip
    v1 = mg.register_version(team, name, _files(model, metrics, work / "v1"), "1.0.0",
                             metrics=metrics, params=params, datasets=[dataset],
                             framework="scikit-learn")  # fmt: skip
    say(f"   {len(v1['artifacts'])} files, environment and git captured: "
        f"python {v1['environment'].get('python', '?')}, commit "
        f"{(v1['code'].get('commit') or 'none')[:12]}")  # fmt: skip

    say("3. Tag it and point the alias 'candidate' at it")
    mg.update_version(team, name, "1.0.0", tags={"owner": "journey", "data": "breast-cancer"})
    mg.set_alias(team, name, "candidate", "1.0.0")

    say("4. Request Staging; a reviewer approves")
    _promote(clients, team, name, "1.0.0", "staging", "first candidate", say)
    say("5. Request Production; two reviewers approve")
    _promote(clients, team, name, "1.0.0", "production", "baseline for the journey", say)

    say("6. A better version replaces it in Production")
    model2, metrics2, params2, _ = train(c=1.0)
    mg.register_version(team, name, _files(model2, metrics2, work / "v2"), "1.1.0",
                        metrics=metrics2, params=params2, datasets=[dataset],
                        parents=[f"{team}/{name}@1.0.0"], framework="scikit-learn")  # fmt: skip
    _promote(clients, team, name, "1.1.0", "staging", "AUC up on validation", say)
    _promote(clients, team, name, "1.1.0", "production", "AUC up on test too", say)
    old = mg.get_version(team, name, "1.0.0")
    say(f"   1.0.0 is now {old['stage']}; waiting for the worker to archive its files")

    def archived() -> bool:
        try:
            mg.download(team, name, work / "restore-check", version="1.0.0")
        except ModelgateError as exc:
            return exc.status == 409
        return False

    _wait(archived, "1.0.0's files to be archived")
    say("   1.0.0's download now answers 409: archived, restore on request")
    result["archived"] = "1.0.0"

    say("7. Deploy 1.1.0 to prod-eu and report live metrics")
    deployment = mg.deploy(team, name, "1.1.0", "prod-eu", "https://journey.internal/v1")
    offline = metrics2["test"]["auc"]

    def points(value: float, count: int) -> list[dict[str, Any]]:
        # The journey compresses days into seconds: every point is "now" (no `at`).
        return [{"name": "auc", "value": round(value, 4)} for _ in range(count)]

    stored = mg.report_metrics(deployment["id"], points=points(offline - 0.005, 10))
    stored += mg.report_metrics(deployment["id"], {"p95_latency_ms": 41.0, "revenue_per_1k": 3.2})
    say(f"   {stored} points: live AUC at the offline level, latency and revenue")

    say("8. A monitor watches live AUC; the data drifts and it breaches")
    mg.add_monitor(team, name, "auc drop", "live.auc < metrics.test.auc - 0.05 over 15m")
    mg.report_metrics(deployment["id"], points=points(offline - 0.12, 30))
    judged = mg.request("POST", f"/models/{team}/{name}/monitors/evaluate")
    say(f"   judged {judged['judged']}: {judged['breached']} breach")
    requests = list(mg.retrain_requests(state="open", model=f"{team}/{name}"))
    if not requests:
        raise RuntimeError("no retrain request was opened")
    retrain = requests[0]
    say(f"9. Retrain request #{retrain['id']}: {retrain['reason']}")
    result["retrain_request"] = retrain["id"]

    model3, metrics3, params3, _ = train(c=0.3, seed=11)
    v3 = mg.register_version(team, name, _files(model3, metrics3, work / "v3"), "1.2.0",
                             metrics=metrics3, params=params3, datasets=[dataset],
                             retrain_request=retrain["id"], framework="scikit-learn")  # fmt: skip
    say(f"   1.2.0 registered for it; parents: {', '.join(v3['lineage']['parents'])}")
    result["parents"] = v3["lineage"]["parents"]
    mg.set_model_card(team, name, "1.2.0", intended_use="Demonstrating the Modelgate workflow.",
                      limitations="Trained on 569 samples of one public dataset.")  # fmt: skip

    say("10. 1.2.0 goes through the same gates")
    _promote(clients, team, name, "1.2.0", "staging", "retrained after the AUC drop", say)
    _promote(clients, team, name, "1.2.0", "production", "recovers live AUC", say)
    done = mg.request("GET", f"/retrain-requests/{retrain['id']}")
    say(f"   retrain request #{retrain['id']} is {done['state']}")
    result["retrain_state"] = done["state"]

    say("11. The model's timeline, oldest first")
    history = list(reversed(mg.timeline(team, name)["history"]))
    for event in history:
        what = (f"{event['from_stage'] or 'registered'} -> {event['to_stage']}"
                if event["kind"] == "stage" else f"alias {event['alias']}")  # fmt: skip
        say(f"   {event['at'][:19]}  {event['version']:8} {what:28} by {event['actor'] or '-'}")
    result["history"] = history
    result["stages"] = {v: mg.get_version(team, name, v)["stage"]
                        for v in ("1.0.0", "1.1.0", "1.2.0")}  # fmt: skip
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--tokens", required=True, help="JSON file: demo account -> token")
    parser.add_argument("--team", default="growth")
    args = parser.parse_args()
    tokens = json.loads(Path(args.tokens).read_text())
    result = run(args.url, tokens, args.team)
    print(f"\nDone: {result['model']} — {result['stages']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
