"""Evaluate the listening scorers on real labelled tweets (Twitter US airline sentiment).

Usage::

    python -m socialcrm.experiments.listening_airline          # full protocol, writes results
    python -m socialcrm.experiments.listening_airline listening.evaluation.folds=3 --no-readme

Positional arguments are Hydra overrides of ``conf/config.yaml``. The data file is
``<paths.shared_data_dir>/<listening.evaluation.data_file>``; ``results.json`` (every
fold's metrics, the hyperparameters, timings) and the README tables go to
``<listening.evaluation.output_dir>``, and the same into one MLflow run
(:func:`socialcrm.experiments.grid.publish`).

Protocol (stratified k-fold CV on the 3-class ``airline_sentiment`` after
deduplication by ``tweet_id``; sentiment models, the complaint target and
detectors, complaint topics): see ``experiments/social-listening/README.md``.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline, make_union
from sklearn.svm import LinearSVC

from socialcrm.config import compose
from socialcrm.experiments.grid import command, markdown_table, publish
from socialcrm.listening.base import LABELS, label_from_sentiment
from socialcrm.listening.factory import build_model
from socialcrm.listening.lexicon import complaint_score
from socialcrm.listening.metrics import COMPLAINT_THRESHOLD, complaint_metrics, label_metrics
from socialcrm.listening.vader import VaderScorer
from socialcrm.reports.markdown import to_markdown

NO_REASON = "Can't Tell"

SENTIMENT_MODELS = {
    "majority": "majority class",
    "vader_raw": "VADER on raw text (no training)",
    "vader": "VaderScorer: VADER without @handles/URLs (the default, no training)",
    "tfidf_lr": "TF-IDF word 1-2 + logistic regression",
    "tfidf_svm": "TF-IDF word 1-2 + char_wb 2-5 + linear SVM",
    "model": "TextClassifierScorer (this package)",
}
#: Reference figures (accuracy, macro-F1) measured with off-the-shelf tools on the same
#: protocol, which the trainable model is judged against; its target is accuracy >= 0.825
#: and macro-F1 >= 0.77.
REFERENCE = {
    "majority": (0.627, 0.257),
    "vader_raw": (0.489, 0.457),
    "tfidf_lr": (0.813, 0.744),
    "tfidf_svm": (0.821, 0.761),
    "model": (0.825, 0.77),
}
COMPLAINT_MODELS = {
    "lexicon": "complaint lexicon (score >= 0.5, no training)",
    "model_negative": "P(negative) of the trained sentiment model",
    "model": "TextClassifierScorer complaint classifier",
}
TOPIC_MODELS = {
    "majority": "majority category",
    "tfidf_svm": "TF-IDF word + char + linear SVM",
}


# ---------------------------------------------------------------------- data
def read_tweets(path: str | Path) -> pd.DataFrame:
    """Read ``Tweets.csv`` and deduplicate by ``tweet_id`` (the I/O edge).

    Parameters
    ----------
    path
        The CSV file of the Twitter US airline sentiment data set.

    Returns
    -------
    pandas.DataFrame
        Columns ``tweet_id``, ``text``, ``sentiment``, ``negativereason``,
        ``complaint``; one row per tweet id (first occurrence), ``RangeIndex``.
    """
    raw = pd.read_csv(path, dtype={"tweet_id": "int64"}, keep_default_na=True)
    return prepare_tweets(raw)


def prepare_tweets(raw: pd.DataFrame) -> pd.DataFrame:
    """Deduplicate raw tweets by ``tweet_id`` and derive the complaint target.

    Parameters
    ----------
    raw
        Rows of ``Tweets.csv``.

    Returns
    -------
    pandas.DataFrame
        See :func:`read_tweets`.
    """
    tweets = raw.drop_duplicates("tweet_id", keep="first").reset_index(drop=True)
    return pd.DataFrame(
        {
            "tweet_id": tweets["tweet_id"].to_numpy(),
            "text": tweets["text"].fillna("").astype(str).to_numpy(dtype=object),
            "sentiment": tweets["airline_sentiment"].astype(str).to_numpy(dtype=object),
            "negativereason": tweets["negativereason"].to_numpy(dtype=object),
            "complaint": complaint_target(tweets["negativereason"]),
        }
    )


def complaint_target(negativereason: pd.Series) -> np.ndarray:
    """Complaint = the tweet has a concrete ``negativereason`` (present, not "Can't Tell").

    Parameters
    ----------
    negativereason
        The annotators' reason column.

    Returns
    -------
    numpy.ndarray
        Boolean flags.
    """
    return (negativereason.notna() & (negativereason != NO_REASON)).to_numpy(dtype=bool)


# -------------------------------------------------------------------- models
def _tfidf_lr() -> Any:
    return make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        LogisticRegression(C=10.0, max_iter=2000),
    )


def _word_char_svm(**svm: Any) -> Any:
    """TF-IDF word 1-2 and char_wb 2-5 grams into a linear SVM (``svm``: its parameters)."""
    return make_pipeline(
        make_union(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
        ),
        LinearSVC(random_state=0, **svm),
    )


def _tfidf_svm() -> Any:
    return _word_char_svm(C=1.0)


def evaluate_fold(
    tweets: pd.DataFrame,
    train: np.ndarray,
    test: np.ndarray,
    model_params: DictConfig | dict | None,
) -> dict[str, dict[str, dict[str, float]]]:
    """Fit every model on ``train`` rows and measure it on ``test`` rows.

    Parameters
    ----------
    tweets
        Output of :func:`prepare_tweets`.
    train, test
        Row positions.
    model_params
        Hyperparameters of the trainable model (``listening.model``).

    Returns
    -------
    dict
        ``{"sentiment" | "complaint" | "topic": {model: {metric: value}}}``, plus
        ``"confusion"`` (sentiment confusion matrices of VADER and the model, rows
        true and columns predicted labels in ``LABELS`` order) and ``"seconds"``
        (fit and score time per trainable model), ``"model_bias"`` (the tuned class
        offsets).
    """
    text = tweets["text"].to_numpy(dtype=object)
    y = tweets["sentiment"].to_numpy(dtype=object)
    c = tweets["complaint"].to_numpy(dtype=bool)
    x_tr, x_te, y_tr, y_te = list(text[train]), list(text[test]), y[train], y[test]
    sentiment: dict[str, dict[str, float]] = {}
    complaint: dict[str, dict[str, float]] = {}
    seconds: dict[str, float] = {}

    values, counts = np.unique(y_tr, return_counts=True)
    sentiment["majority"] = label_metrics(y_te, np.full(len(y_te), values[counts.argmax()]))
    raw_pred = label_from_sentiment(VaderScorer(strip_mentions=False).compound(x_te))
    sentiment["vader_raw"] = label_metrics(y_te, raw_pred)
    vader_pred = label_from_sentiment(VaderScorer().compound(x_te))
    sentiment["vader"] = label_metrics(y_te, vader_pred)
    for key, make in (("tfidf_lr", _tfidf_lr), ("tfidf_svm", _tfidf_svm)):
        t0 = time.perf_counter()
        sentiment[key] = label_metrics(y_te, make().fit(x_tr, y_tr).predict(x_te))
        seconds[key] = time.perf_counter() - t0

    t0 = time.perf_counter()
    model = build_model(model_params).fit(x_tr, y_tr, complaints=c[train])
    seconds["model_fit"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    scores = model.score(x_te)
    seconds["model_score"] = time.perf_counter() - t0
    proba = model.predict_proba(x_te)
    model_pred = scores["label"].to_numpy(dtype=object)
    sentiment["model"] = label_metrics(y_te, model_pred)
    confusion = {
        "vader": confusion_matrix(y_te, vader_pred, labels=list(LABELS)).tolist(),
        "model": confusion_matrix(y_te, model_pred, labels=list(LABELS)).tolist(),
    }

    complaint["lexicon"] = complaint_metrics(c[test], complaint_score(x_te))
    complaint["model_negative"] = complaint_metrics(c[test], proba["negative"].to_numpy())
    complaint["model"] = complaint_metrics(c[test], scores["complaint"].to_numpy())

    topic = _topic_fold(tweets, train, test)
    return {
        "sentiment": sentiment,
        "complaint": complaint,
        "topic": topic,
        "confusion": confusion,
        "model_bias": dict(zip(model.classes_, map(float, model.bias_), strict=True)),
        "seconds": seconds,
    }


def _topic_fold(
    tweets: pd.DataFrame, train: np.ndarray, test: np.ndarray
) -> dict[str, dict[str, float]]:
    c = tweets["complaint"].to_numpy(dtype=bool)
    tr, te = train[c[train]], test[c[test]]
    text = tweets["text"].to_numpy(dtype=object)
    reason = tweets["negativereason"].to_numpy(dtype=object)
    values, counts = np.unique(reason[tr].astype(str), return_counts=True)
    out = {"majority": label_metrics(reason[te], np.full(len(te), values[counts.argmax()]))}
    clf = _word_char_svm(C=0.5, class_weight="balanced")
    clf.fit(list(text[tr]), reason[tr].astype(str))
    out["tfidf_svm"] = label_metrics(reason[te], clf.predict(list(text[te])))
    return out


def summarise(folds: Sequence[dict[str, dict[str, dict[str, float]]]]) -> dict[str, Any]:
    """Mean and sample sd over folds of every metric.

    Parameters
    ----------
    folds
        Outputs of :func:`evaluate_fold`.

    Returns
    -------
    dict
        ``{task: {model: {metric: {"mean", "sd", "folds"}}}}``.
    """
    out: dict[str, Any] = {}
    for task in ("sentiment", "complaint", "topic"):
        out[task] = {}
        for model in folds[0][task]:
            out[task][model] = {}
            for metric in folds[0][task][model]:
                values = np.array([f[task][model][metric] for f in folds])
                out[task][model][metric] = {
                    "mean": float(values.mean()),
                    "sd": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                    "folds": [float(v) for v in values],
                }
    return out


def run_evaluation(
    tweets: pd.DataFrame,
    n_folds: int,
    seed: int,
    model_params: DictConfig | dict | None,
    on_fold: Callable[[int, dict], None] | None = None,
) -> dict[str, Any]:
    """Run the whole protocol (see the experiment's README) on prepared tweets.

    Parameters
    ----------
    tweets
        Output of :func:`prepare_tweets`.
    n_folds, seed
        Stratified k-fold split (shuffled with ``seed``).
    model_params
        Hyperparameters of the trainable model.
    on_fold
        Called with the fold number and its metrics after each fold.

    Returns
    -------
    dict
        Data description, per-fold metrics, summary and timings.
    """
    y = tweets["sentiment"].to_numpy(dtype=object)
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    folds = []
    for i, (train, test) in enumerate(splitter.split(np.zeros(len(y)), y)):
        result = evaluate_fold(tweets, train, test, model_params)
        folds.append(result)
        if on_fold is not None:
            on_fold(i, result)
    classes, counts = np.unique(y, return_counts=True)
    params = (
        OmegaConf.to_container(model_params, resolve=True)
        if isinstance(model_params, DictConfig)
        else dict(model_params or {})
    )
    return {
        "data": {
            "n_tweets": len(tweets),
            "sentiment_counts": {str(k): int(v) for k, v in zip(classes, counts, strict=True)},
            "complaint_share": float(tweets["complaint"].mean()),
            "n_topics": int(tweets.loc[tweets["complaint"], "negativereason"].nunique()),
        },
        "protocol": {
            "split": "StratifiedKFold on airline_sentiment",
            "folds": n_folds,
            "shuffle": True,
            "seed": seed,
            "dedupe": "drop_duplicates(tweet_id, keep=first) before splitting",
            "complaint_target": 'negativereason present and != "Can\'t Tell"',
            "complaint_threshold": COMPLAINT_THRESHOLD,
            "sd": "sample standard deviation over folds (ddof=1)",
        },
        "model_params": params,
        "summary": summarise(folds),
        "confusion_pooled": {
            key: np.sum([f["confusion"][key] for f in folds], axis=0).tolist()
            for key in folds[0]["confusion"]
        },
        "seconds": {
            k: float(np.mean([f["seconds"][k] for f in folds])) for k in folds[0]["seconds"]
        },
        "folds": folds,
    }


# ------------------------------------------------------------------ rendering
def summary_frame(task: dict[str, Any], names: dict[str, str]) -> pd.DataFrame:
    """One task's summary as rows: ``model`` (its label), ``<metric>`` and ``<metric>_sd``."""
    return pd.DataFrame(
        [
            {"model": label}
            | {m: stat["mean"] for m, stat in task[key].items()}
            | {f"{m}_sd": stat["sd"] for m, stat in task[key].items()}
            for key, label in names.items()
        ]
    )


def _reference(key: str) -> str:
    ref = REFERENCE.get(key)
    if ref is None:
        return ""
    return (
        f"target >= {ref[0]:.3f} / >= {ref[1]:.2f}"
        if key == "model"
        else f"{ref[0]:.3f} / {ref[1]:.3f}"
    )


def markdown_tables(results: dict[str, Any]) -> str:
    """Render the summary as Markdown tables.

    Parameters
    ----------
    results
        Output of :func:`run_evaluation`.

    Returns
    -------
    str
    """
    s = results["summary"]
    data, protocol = results["data"], results["protocol"]
    labels = {"accuracy": "accuracy", "macro-F1": "macro_f1"}
    sentiment = summary_frame(s["sentiment"], SENTIMENT_MODELS)
    sentiment["reference"] = [_reference(k) for k in SENTIMENT_MODELS]
    complaint = summary_frame(s["complaint"], COMPLAINT_MODELS)
    detectors = {"detector": "model", "precision": "precision", "recall": "recall", "F1": "f1"}
    m = s["sentiment"]["model"]
    pooled = {k: np.asarray(v, dtype=float) for k, v in results["confusion_pooled"].items()}
    shares = {
        k: [" / ".join(f"{x:.2f}" for x in row / max(row.sum(), 1)) for row in c]
        for k, c in pooled.items()
    }
    where = pd.DataFrame(
        {
            "true label": list(LABELS),
            "n": [int(row.sum()) for row in pooled["vader"]],
            f"VADER: {' / '.join(LABELS)}": shares["vader"],
            f"model: {' / '.join(LABELS)}": shares["model"],
        }
    )
    sec = results["seconds"]
    return "\n\n".join(
        [
            f"{data['n_tweets']:,} tweets after deduplication by `tweet_id` "
            f"({', '.join(f'{k} {v:,}' for k, v in data['sentiment_counts'].items())}); "
            f"{protocol['folds']}-fold stratified CV, seed {protocol['seed']}; "
            "mean ± sample sd over folds.",
            "**Sentiment (3 classes)**",
            markdown_table(
                sentiment,
                {"model": "model"} | labels | {"reference accuracy / macro-F1": "reference"},
                labels.values(),
            ),
            f"TextClassifierScorer, worst fold: accuracy {min(m['accuracy']['folds']):.3f}, "
            f"macro-F1 {min(m['macro_f1']['folds']):.3f}.",
            f"**Complaint detection** (complaint share {data['complaint_share']:.3f})",
            markdown_table(
                complaint,
                detectors | {"ROC-AUC": "roc_auc"},
                ("precision", "recall", "f1", "roc_auc"),
            ),
            f"**Complaint topic** ({data['n_topics']} `negativereason` categories, "
            "among complaints)",
            markdown_table(
                summary_frame(s["topic"], TOPIC_MODELS),
                {"model": "model"} | labels,
                labels.values(),
            ),
            "**Where the sentiment labels go** (test folds pooled; share of each true label)",
            to_markdown(where),
            f"Trainable model: {sec['model_fit']:.1f} s per fit on "
            f"{int(data['n_tweets'] * (1 - 1 / protocol['folds'])):,} tweets, "
            f"{sec['model_score']:.1f} s to score the other "
            f"{data['n_tweets'] // protocol['folds']:,} "
            f"(measured on {results.get('machine', 'this machine')}).",
        ]
    )


# ----------------------------------------------------------------------- CLI
def logged_metrics(results: dict[str, Any]) -> dict[str, float]:
    """``<task>.<model>.<metric>`` fold means, for the MLflow run."""
    return {
        f"{task}.{model}.{metric}": stat["mean"]
        for task, models in results["summary"].items()
        for model, metrics in models.items()
        for metric, stat in metrics.items()
    }


app = typer.Typer(add_completion=False)


@app.command()
def main(
    overrides: Annotated[
        list[str] | None, typer.Argument(help="Hydra overrides of conf/config.yaml")
    ] = None,
    readme: Annotated[bool, typer.Option(help="Render the tables into the output README")] = True,
) -> None:
    """Run the airline-tweet protocol; write results.json and the README tables, log one
    MLflow run."""
    console = Console()
    overrides = list(overrides or [])
    cfg = compose(overrides)
    ev = cfg.listening.evaluation
    path = Path(cfg.paths.shared_data_dir) / ev.data_file
    if not path.is_file():
        console.print(
            f"[red]{path} not found[/red]: set $SOCIALCRM_SHARED_DATA or paths.shared_data_dir"
        )
        raise typer.Exit(2)
    tweets = read_tweets(path)
    console.print(f"{len(tweets):,} tweets; {ev.folds}-fold CV, seed {ev.seed}")

    def progress(i: int, fold: dict) -> None:
        m = fold["sentiment"]["model"]
        console.print(
            f"fold {i + 1}: model accuracy {m['accuracy']:.3f}, macro-F1 {m['macro_f1']:.3f}, "
            f"fit {fold['seconds']['model_fit']:.1f} s"
        )

    t0 = time.perf_counter()
    results = run_evaluation(tweets, int(ev.folds), int(ev.seed), cfg.listening.model, progress)
    results["seconds"]["total"] = time.perf_counter() - t0
    results["machine"] = f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores"
    results["data"]["file"] = str(Path(ev.data_file))
    out, text = Path(ev.output_dir), markdown_tables(results)
    console.print(text, markup=False, highlight=False)
    console.print(f"{out / 'results.json'}: {results['seconds']['total']:.0f} s")
    publish(
        out,
        text,
        command("socialcrm.experiments.listening_airline", *overrides),
        {"results.json": json.dumps(results, indent=2) + "\n"},
        cfg.tracking,
        "social-listening",
        logged_metrics(results),
        {"folds": int(ev.folds), "seed": int(ev.seed), "data_file": str(ev.data_file)},
        readme=readme,
        console=console,
    )


if __name__ == "__main__":
    app()
