"""A trainable sentiment and complaint classifier for users with labelled posts.

The model (scikit-learn only, no download, no GPU):

1. **Features.** Tweet-aware normalisation (:mod:`socialcrm.listening.text`);
   word 1-3-gram TF-IDF with sublinear tf on negation-marked text; character
   2-5-gram TF-IDF (across word boundaries) on the normalised text; VADER's four
   scores (``neg``, ``neu``, ``pos``, ``compound``) as dense features.
2. **Base models.** A linear SVM with balanced class weights on all features;
   an NB-SVM (Wang and Manning, 2012: one linear SVM per class on binary word
   features scaled by their naive-Bayes log-count ratios); complement naive
   Bayes on the binary word features.
3. **Stacking.** The base models' scores on held-out rows of an inner
   stratified k-fold split of the training set (plus the VADER scores) train a
   multinomial logistic regression, which turns them into calibrated class
   probabilities. The base models are then refitted on all training rows.
4. **Decision tuning for macro-F1.** Per-class log-probability offsets are
   chosen by coordinate search to maximise macro-F1 on out-of-fold meta
   probabilities of the *training* set only; they correct the majority-class
   pull of an imbalanced label mix. The reported probabilities include the
   offsets (renormalised), so ``label`` is their argmax.
5. **Complaints.** When complaint labels are given, a second balanced linear
   SVM on the same features is stacked the same way with the sentiment SVM's
   scores and the lexicon score into a logistic regression giving
   P(complaint). Without complaint labels, ``complaint`` is the lexicon score
   (:func:`socialcrm.listening.lexicon.complaint_score`).

Output: ``sentiment = P(positive) - P(negative)``, ``label`` the most probable
class, ``complaint`` the probability above. One fit on 14.5k tweets takes about
20-25 s on 2 cores.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import scipy.sparse as sp
from joblib import Parallel, delayed
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from socialcrm.listening.base import LABELS, as_text_list, make_scores
from socialcrm.listening.lexicon import complaint_score
from socialcrm.listening.text import TOKEN_PATTERN, mark_negation, normalize
from socialcrm.listening.vader import VaderScorer

FORMAT_VERSION = 1


class TextClassifierScorer:
    """Stacked linear text classifier for sentiment (and complaints); see the module docstring.

    Parameters
    ----------
    C
        Regularisation of the linear SVMs (sentiment and complaint).
    nb_C
        Regularisation of the NB-SVM's per-class SVMs.
    nb_alpha
        Smoothing of the naive-Bayes log-count ratios.
    cnb_alpha
        Smoothing of complement naive Bayes.
    nb_max_ngram
        Longest word n-gram in the binary features of NB-SVM and naive Bayes.
    meta_C
        Regularisation of the stacking logistic regressions.
    word_ngrams, char_ngrams
        N-gram ranges of the word and character TF-IDF views.
    char_min_df
        Minimum document frequency of a character n-gram.
    keep_mentions
        Keep ``@handles`` as tokens (else replace them by ``@user``).
    use_vader
        Add VADER's scores as features.
    inner_folds
        Folds of the inner split that trains the stacker (lowered to the smallest
        class count for tiny data sets).
    tune_bias
        Tune per-class offsets for macro-F1 (on training folds only).
    n_jobs
        Threads for the inner folds (liblinear releases the GIL).
    random_state
        Seed of the inner split and the SVM solvers.

    Attributes
    ----------
    name
        ``"model"``.
    classes_
        Labels seen in training, in :data:`~socialcrm.listening.base.LABELS` order.
    bias_
        The tuned per-class log-probability offsets.
    has_complaint_model_
        Whether complaints come from a trained classifier (else the lexicon).
    """

    name = "model"

    def __init__(
        self,
        C: float = 0.3,
        nb_C: float = 0.1,
        nb_alpha: float = 1.0,
        cnb_alpha: float = 0.3,
        nb_max_ngram: int = 2,
        meta_C: float = 1.0,
        word_ngrams: tuple[int, int] = (1, 3),
        char_ngrams: tuple[int, int] = (2, 5),
        char_min_df: int = 2,
        keep_mentions: bool = True,
        use_vader: bool = True,
        inner_folds: int = 5,
        tune_bias: bool = True,
        n_jobs: int = 2,
        random_state: int = 0,
    ) -> None:
        self.C = C
        self.nb_C = nb_C
        self.nb_alpha = nb_alpha
        self.cnb_alpha = cnb_alpha
        self.nb_max_ngram = nb_max_ngram
        self.meta_C = meta_C
        self.word_ngrams = tuple(word_ngrams)
        self.char_ngrams = tuple(char_ngrams)
        self.char_min_df = char_min_df
        self.keep_mentions = keep_mentions
        self.use_vader = use_vader
        self.inner_folds = inner_folds
        self.tune_bias = tune_bias
        self.n_jobs = n_jobs
        self.random_state = random_state
        self._vader: VaderScorer | None = None

    # ----------------------------------------------------------------- features
    def _get_vader(self) -> VaderScorer:
        if self._vader is None:
            self._vader = VaderScorer()
        return self._vader

    def _views(self, texts: list[str]) -> tuple[list[str], list[str]]:
        plain = [normalize(t, negation=False, keep_mentions=self.keep_mentions) for t in texts]
        return plain, [mark_negation(t) for t in plain]

    def _fit_features(self, texts: list[str]) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        plain, negated = self._views(texts)
        self._word = TfidfVectorizer(
            lowercase=False,
            token_pattern=TOKEN_PATTERN,
            ngram_range=self.word_ngrams,
            sublinear_tf=True,
            dtype=np.float64,
        )
        self._char = TfidfVectorizer(
            lowercase=False,
            analyzer="char",
            ngram_range=self.char_ngrams,
            min_df=self.char_min_df,
            sublinear_tf=True,
            dtype=np.float64,
        )
        w = self._word.fit_transform(negated)
        c = self._char.fit_transform(plain)
        names = self._word.get_feature_names_out()
        n_words = np.char.count(names.astype(str), " ") + 1
        self._nb_columns = np.flatnonzero(n_words <= self.nb_max_ngram)
        return self._assemble(texts, w, c)

    def _features(self, texts: list[str]) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        plain, negated = self._views(texts)
        return self._assemble(texts, self._word.transform(negated), self._char.transform(plain))

    def _assemble(
        self, texts: list[str], w: sp.csr_matrix, c: sp.csr_matrix
    ) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        blocks = [w, c]
        if self.use_vader:
            blocks.append(sp.csr_matrix(self._get_vader().polarity(texts).astype(np.float64)))
        binary = (w[:, self._nb_columns] > 0).astype(np.float64).tocsr()
        return sp.hstack(blocks, format="csr"), binary

    # -------------------------------------------------------------- base models
    def _fit_bases(
        self, X: sp.csr_matrix, B: sp.csr_matrix, y: np.ndarray, complaint: np.ndarray | None
    ) -> dict[str, Any]:
        k = len(self.classes_)
        svm = LinearSVC(C=self.C, class_weight="balanced", random_state=self.random_state)
        svm.fit(X, y)
        ratios, nbsvms = [], []
        for cls in range(k):
            pos = y == cls
            p = self.nb_alpha + np.asarray(B[pos].sum(axis=0)).ravel()
            q = self.nb_alpha + np.asarray(B[~pos].sum(axis=0)).ravel()
            r = np.log((p / p.sum()) / (q / q.sum())).astype(np.float64)
            m = LinearSVC(C=self.nb_C, random_state=self.random_state)
            m.fit(B.multiply(r).tocsr(), pos)
            ratios.append(r)
            nbsvms.append(m)
        cnb = ComplementNB(alpha=self.cnb_alpha).fit(B, y)
        bases: dict[str, Any] = {"svm": svm, "nb_ratios": ratios, "nbsvm": nbsvms, "cnb": cnb}
        if complaint is not None:
            cmp = LinearSVC(C=self.C, class_weight="balanced", random_state=self.random_state)
            bases["complaint_svm"] = cmp.fit(X, complaint)
        return bases

    def _base_scores(
        self, bases: dict[str, Any], X: sp.csr_matrix, B: sp.csr_matrix
    ) -> dict[str, np.ndarray]:
        svm = _two_columns(bases["svm"].decision_function(X))
        nb = np.column_stack(
            [
                m.decision_function(B.multiply(r).tocsr())
                for m, r in zip(bases["nbsvm"], bases["nb_ratios"], strict=True)
            ]
        )
        cnb = np.log(np.clip(bases["cnb"].predict_proba(B), 1e-12, None))
        out = {"svm": svm, "nbsvm": nb, "cnb": cnb}
        if "complaint_svm" in bases:
            out["complaint_svm"] = bases["complaint_svm"].decision_function(X)[:, None]
        return out

    def _meta_sentiment(self, s: dict[str, np.ndarray], X: sp.csr_matrix) -> np.ndarray:
        cols = [s["svm"], s["nbsvm"], s["cnb"]]
        if self.use_vader:
            cols.append(X[:, -4:].toarray())
        return np.hstack(cols)

    @staticmethod
    def _meta_complaint(s: dict[str, np.ndarray], lexicon: np.ndarray) -> np.ndarray:
        return np.hstack([s["complaint_svm"], s["svm"], lexicon[:, None]])

    def _meta_model(self) -> Any:
        return make_pipeline(StandardScaler(), LogisticRegression(C=self.meta_C, max_iter=2000))

    # ------------------------------------------------------------------- public
    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        complaints: Sequence[bool] | None = None,
    ) -> TextClassifierScorer:
        """Train on labelled posts.

        Parameters
        ----------
        texts
            Post texts.
        labels
            Sentiment label per text, from ``negative``, ``neutral``, ``positive``
            (at least two of them, each at least twice).
        complaints
            Optional complaint flag (bool) per text, at least two of each value;
            trains the complaint classifier.

        Returns
        -------
        TextClassifierScorer
            ``self``.
        """
        texts = as_text_list(texts)
        labels = np.asarray([str(v) for v in labels], dtype=object)
        if len(labels) != len(texts):
            raise ValueError(f"{len(labels)} labels for {len(texts)} texts")
        unknown = sorted(set(labels) - set(LABELS))
        if unknown:
            raise ValueError(f"labels must be in {LABELS}, got {unknown}")
        self.classes_ = [c for c in LABELS if c in set(labels)]
        code = {label: i for i, label in enumerate(self.classes_)}
        y = np.fromiter((code[v] for v in labels), dtype=np.int64, count=len(labels))
        counts = np.bincount(y, minlength=len(self.classes_))
        if len(self.classes_) < 2 or counts.min() < 2:
            raise ValueError("need at least two labels with at least two texts each")
        complaint = None
        if complaints is not None:
            complaint = np.asarray(complaints, dtype=bool)
            if len(complaint) != len(texts):
                raise ValueError(f"{len(complaint)} complaint flags for {len(texts)} texts")
            if min(complaint.sum(), (~complaint).sum()) < 2:
                raise ValueError("complaint flags need at least two texts of each class")

        X, B = self._fit_features(texts)
        lexicon = complaint_score(texts)
        # Inner folds stratified on label x complaint (on the label alone when a
        # combination is too rare), so every training part holds every class.
        strata = y if complaint is None else y * 2 + complaint
        strata_counts = np.unique(strata, return_counts=True)[1]
        if strata_counts.min() < 2:
            strata, strata_counts = y, counts
        n_folds = max(int(min(self.inner_folds, strata_counts.min())), 2)
        if complaint is not None:
            n_folds = max(int(min(n_folds, complaint.sum(), (~complaint).sum())), 2)
        splitter = StratifiedKFold(n_folds, shuffle=True, random_state=self.random_state)
        folds = list(splitter.split(X, strata))

        def fold_scores(train: np.ndarray, test: np.ndarray) -> dict[str, np.ndarray]:
            bases = self._fit_bases(
                X[train], B[train], y[train], None if complaint is None else complaint[train]
            )
            return self._base_scores(bases, X[test], B[test])

        parts = Parallel(n_jobs=self.n_jobs, prefer="threads")(
            delayed(fold_scores)(tr, te) for tr, te in folds
        )
        oof: dict[str, np.ndarray] = {}
        for (_, test), scores in zip(folds, parts, strict=True):
            for key, value in scores.items():
                oof.setdefault(key, np.zeros((len(texts), value.shape[1])))[test] = value
        self._bases = self._fit_bases(X, B, y, complaint)

        Z = self._meta_sentiment(oof, X)
        self._meta = self._meta_model().fit(Z, y)
        self.bias_ = np.zeros(len(self.classes_))
        if self.tune_bias:
            inner = StratifiedKFold(n_folds, shuffle=True, random_state=self.random_state + 1)
            proba = cross_val_predict(self._meta_model(), Z, y, cv=inner, method="predict_proba")
            self.bias_ = tune_class_bias(proba, y)
        self.has_complaint_model_ = complaint is not None
        if complaint is not None:
            self._complaint_meta = self._meta_model().fit(
                self._meta_complaint(oof, lexicon), complaint
            )
        return self

    def predict_proba(self, texts: Sequence[str]) -> pd.DataFrame:
        """Class probabilities (with the tuned offsets applied).

        Parameters
        ----------
        texts
            Post texts.

        Returns
        -------
        pandas.DataFrame
            One column per label in :data:`~socialcrm.listening.base.LABELS` (zero for
            labels unseen in training), one row per text.
        """
        proba, _ = self._predict(as_text_list(texts), with_complaint=False)
        return proba

    def _predict(
        self, texts: list[str], with_complaint: bool
    ) -> tuple[pd.DataFrame, np.ndarray | None]:
        self._check_fitted()
        if not texts:
            empty = pd.DataFrame(np.zeros((0, len(LABELS))), columns=list(LABELS))
            return empty, np.zeros(0)
        X, B = self._features(texts)
        s = self._base_scores(self._bases, X, B)
        log_p = np.log(np.clip(self._meta.predict_proba(self._meta_sentiment(s, X)), 1e-12, None))
        log_p += self.bias_
        log_p -= log_p.max(axis=1, keepdims=True)
        p = np.exp(log_p)
        p /= p.sum(axis=1, keepdims=True)
        proba = pd.DataFrame(0.0, index=range(len(texts)), columns=list(LABELS))
        proba[self.classes_] = p
        complaint = None
        if with_complaint:
            lexicon = complaint_score(texts)
            if self.has_complaint_model_:
                z = self._meta_complaint(s, lexicon)
                complaint = self._complaint_meta.predict_proba(z)[:, 1]
            else:
                complaint = lexicon
        return proba, complaint

    def score(self, texts: Sequence[str]) -> pd.DataFrame:
        """Score texts (see :class:`socialcrm.listening.base.Scorer`).

        Parameters
        ----------
        texts
            Post texts.

        Returns
        -------
        pandas.DataFrame
            Columns ``sentiment`` (P(positive) - P(negative)), ``label`` (most probable
            class) and ``complaint`` (P(complaint), or the lexicon score when trained
            without complaint labels); one row per text.
        """
        proba, complaint = self._predict(as_text_list(texts), with_complaint=True)
        sentiment = proba["positive"].to_numpy() - proba["negative"].to_numpy()
        label = np.asarray(LABELS, dtype=object)[proba.to_numpy().argmax(axis=1)]
        return make_scores(sentiment, label, complaint)

    def save(self, path: str | Path) -> Path:
        """Write the fitted model with joblib.

        The file holds the TF-IDF vocabularies, i.e. word and character n-grams of
        the training posts: treat it like the training data (do not commit it).

        Parameters
        ----------
        path
            Target file (parent folders are created).

        Returns
        -------
        pathlib.Path
        """
        self._check_fitted()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump({"format": FORMAT_VERSION, "model": self}, path, compress=3)
        return path

    @classmethod
    def load(cls, path: str | Path) -> TextClassifierScorer:
        """Read a model written by :meth:`save`.

        Parameters
        ----------
        path
            File written by :meth:`save` (only load files you trust: joblib runs pickle).

        Returns
        -------
        TextClassifierScorer
        """
        payload = joblib.load(Path(path))
        if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION:
            raise ValueError(f"{path} is not a TextClassifierScorer file (format {FORMAT_VERSION})")
        model = payload["model"]
        if not isinstance(model, cls):
            raise TypeError(f"{path} holds a {type(model).__name__}, not a {cls.__name__}")
        return model

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_vader"] = None  # rebuilt on demand from the installed package
        return state

    def _check_fitted(self) -> None:
        if not hasattr(self, "_meta"):
            raise RuntimeError("TextClassifierScorer is not fitted: call fit() or load()")


def _two_columns(decision: np.ndarray) -> np.ndarray:
    """Binary decision scores as two columns (``[-s, s]``), multiclass scores unchanged."""
    decision = np.asarray(decision, dtype=float)
    return np.column_stack([-decision, decision]) if decision.ndim == 1 else decision


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Macro-averaged F1 over ``n_classes`` integer-coded classes (fast, no checks).

    Parameters
    ----------
    y_true, y_pred
        Integer class codes in ``[0, n_classes)``.
    n_classes
        Number of classes.

    Returns
    -------
    float
    """
    cm = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes
    )
    tp = np.diag(cm).astype(float)
    denom = cm.sum(axis=0) + cm.sum(axis=1)
    return float(np.mean(np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)))


def tune_class_bias(
    proba: np.ndarray,
    y: np.ndarray,
    grid: np.ndarray | None = None,
    passes: int = 3,
) -> np.ndarray:
    """Per-class log-probability offsets that maximise macro-F1 (coordinate search).

    Parameters
    ----------
    proba
        Out-of-fold class probabilities, shape ``(n, k)``.
    y
        Integer class codes.
    grid
        Candidate offsets per class (default ``-1.0, -0.95, ..., 1.0``); the first
        class stays at 0.
    passes
        Rounds over the classes.

    Returns
    -------
    numpy.ndarray
        Offsets of length ``k`` to add to ``log(proba)``.
    """
    grid = np.round(np.arange(-1.0, 1.0001, 0.05), 2) if grid is None else grid
    k = proba.shape[1]
    log_p = np.log(np.clip(proba, 1e-12, None))
    bias = np.zeros(k)
    best = macro_f1(y, log_p.argmax(axis=1), k)
    for _ in range(passes):
        improved = False
        for cls in range(1, k):
            for value in grid:
                trial = bias.copy()
                trial[cls] = value
                score = macro_f1(y, (log_p + trial).argmax(axis=1), k)
                if score > best + 1e-12:
                    best, bias, improved = score, trial, True
        if not improved:
            break
    return bias
