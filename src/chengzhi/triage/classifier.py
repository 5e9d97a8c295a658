"""Topic classifier for citizen appeals (诉求分类), trained on a city's own history.

Pure: texts and labels in, a `Model` out; no database. Features are TF-IDF weights of character
1–3-grams (字符 n 元组) of the whole text and, separately, of its head (标题或首句: the title, or
the first sentence when there is none), computed in numpy so that prediction keeps up with a
city's intake. The classifier is a class-balanced linear SVM whose scores are calibrated into
probabilities (Platt sigmoid, cross-validated), so every label gets a confidence. `evaluate`
estimates quality by stratified k-fold cross-validation.

Texts pass through `clean` before training and prediction: NFKC, lower case, and URLs, e-mail
addresses, phone, ID and card numbers removed, so personal data never becomes a feature. Nothing
here logs or prints a text.

`Model.to_bytes` pickles the fitted pipeline: load with `Model.from_bytes` only bytes this
platform wrote itself (our own database), never bytes from outside — unpickling runs code.
"""

from __future__ import annotations

import json
import pickle
import re
import time
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import sklearn
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, normalize
from sklearn.svm import LinearSVC

MAGIC = b"chengzhi.triage.model\n"
FORMAT_VERSION = 1
SVM_C = 1.0
CALIBRATION_FOLDS = 3
HEAD_CHARS = 60
BATCH = 256  # texts per numpy pass: small arrays stay in cache

# Personal data (个人信息) that must not become features, matched after NFKC and lower-casing.
# The leading look-ahead lets the scanner skip Chinese characters quickly (three times faster).
PERSONAL = re.compile(
    r"(?=[0-9a-z._%+-])(?:"
    r"(?:https?://|www\.)[!-~]+"  # URLs
    r"|[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+"  # e-mail addresses
    r"|\d{17}[\dx]"  # resident ID numbers (身份证号)
    r"|0\d{2,3}-\d{7,8}"  # landlines (座机)
    r"|\d{7,})",  # mobiles (手机号), bank cards, QQ and other long numbers
    re.ASCII,
)
SPACES = re.compile(r"\s+")
HEAD_END = re.compile(r"[。！？!?；;\n]")


# ---------------------------------------------------------------------------------------------
# Text preparation


def clean(text: str) -> str:
    """NFKC, lower case, personal data removed, white space runs made one space."""
    text = unicodedata.normalize("NFKC", text).lower().replace("\0", " ")
    return SPACES.sub(" ", PERSONAL.sub(" ", text)).strip()


def prepare(title: str | None, body: str | None = None) -> str:
    """The text the classifier reads: "title。body", cleaned; either part may be missing."""
    return clean("。".join(p.strip() for p in (title, body) if p and p.strip()))


def heads(texts: Sequence[str]) -> list[str]:
    """The head of each text: up to its first sentence end, at most 60 characters."""
    return [HEAD_END.split(t, maxsplit=1)[0][:HEAD_CHARS] for t in texts]


# ---------------------------------------------------------------------------------------------
# Character n-gram TF-IDF in numpy


def ngram_keys(texts: Sequence[str], ngrams: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(text index, n-gram key) for every character n-gram of every text.

    A code point fits in 21 bits, so an n-gram of up to three characters packs exactly into one
    uint64: no hashing, no collisions. Lengths never share a key as no character is NUL. Texts
    are joined by NUL, and the n-grams that contain it are dropped."""
    joined = "\0".join(t.replace("\0", " ") for t in texts) + "\0"
    chars = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    nul = chars == 0
    doc = np.cumsum(nul) - nul
    docs, keys = [], []
    for n in range(ngrams[0], ngrams[1] + 1):
        m = len(chars) - n + 1
        key, ok = chars[:m].copy(), ~nul[:m]
        for j in range(1, n):
            key = (key << np.uint64(21)) | chars[j : j + m]
            ok &= ~nul[j : j + m]
        docs.append(doc[:m][ok])
        keys.append(key[ok])
    return np.concatenate(docs), np.concatenate(keys)


def unique_inverse(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(values, return_inverse=True) by sorting; numpy's hash path is slower here."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]] if len(values) else np.zeros(0, bool)
    inverse = np.empty(len(values), np.int64)
    inverse[order] = np.cumsum(first) - 1
    return ordered[first], inverse


class KeyIndex:
    """Open-addressing hash table from n-gram key to column, probed for a whole array at once:
    about three times faster than a binary search over the sorted vocabulary."""

    GOLDEN = np.uint64(0x9E3779B97F4A7C15)

    def __init__(self, vocabulary: np.ndarray) -> None:
        self.bits = max(4, (2 * len(vocabulary)).bit_length())
        self.keys = np.zeros(1 << self.bits, np.uint64)  # 0: empty (no key is 0)
        self.cols = np.full(1 << self.bits, -1, np.int64)
        pending = np.arange(len(vocabulary))
        slot = self._slots(vocabulary)
        while len(pending):
            free = np.flatnonzero(self.keys[slot] == 0)
            taken, first = np.unique(slot[free], return_index=True)
            self.keys[taken] = vocabulary[pending[free[first]]]
            self.cols[taken] = pending[free[first]]
            left = np.ones(len(pending), bool)
            left[free[first]] = False
            pending, slot = pending[left], self._next(slot[left])

    def _slots(self, keys: np.ndarray) -> np.ndarray:
        return ((keys * self.GOLDEN) >> np.uint64(64 - self.bits)).astype(np.int64)

    def _next(self, slot: np.ndarray) -> np.ndarray:
        return (slot + 1) & ((1 << self.bits) - 1)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Column of each key, or -1."""
        out = np.full(len(keys), -1, np.int64)
        todo, slot = np.arange(len(keys)), self._slots(keys)
        while len(todo):
            found = self.keys[slot]
            hit = found == keys[todo]
            out[todo[hit]] = self.cols[slot[hit]]
            go = ~hit & (found != 0)
            todo, slot = todo[go], self._next(slot[go])
        return out


class CharNgramTfidf(TransformerMixin, BaseEstimator):
    """TF-IDF of character n-grams (n ≤ 3), equal to sklearn's TfidfVectorizer(analyzer="char",
    lowercase=False, sublinear_tf=True, min_df=2) but several times faster. `min_df` drops
    n-grams seen in fewer texts; `max_features` then keeps those seen in most texts (sklearn
    ranks by total count instead)."""

    def __init__(
        self, ngram_range: tuple[int, int] = (1, 3), min_df: int = 2, max_features: int = 300_000
    ) -> None:
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_features = max_features

    def fit(self, texts: Sequence[str], y: object = None) -> CharNgramTfidf:
        if not 1 <= self.ngram_range[0] <= self.ngram_range[1] <= 3:
            raise ValueError("n 元组长度须在 1–3 之间 (ngram_range must lie within 1..3)")
        vocab, df = self._document_frequencies(texts)
        keep = np.flatnonzero(df >= self.min_df)
        if len(keep) > self.max_features:
            keep = np.sort(keep[np.argsort(-df[keep], kind="stable")[: self.max_features]])
        self.vocabulary_ = vocab[keep]
        self.idf_ = np.log((1 + len(texts)) / (1 + df[keep])) + 1.0
        return self

    def _document_frequencies(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Sorted n-gram keys and the number of texts each occurs in, a chunk at a time."""
        vocab, df, chunk = np.zeros(0, np.uint64), np.zeros(0, np.int64), 8 * BATCH
        for start in range(0, len(texts), chunk):
            docs, keys = ngram_keys(texts[start : start + chunk], self.ngram_range)
            local, inverse = unique_inverse(keys)
            pairs, _ = unique_inverse(inverse * chunk + docs)  # each (n-gram, text) once
            counts = np.bincount(pairs // chunk, minlength=len(local))
            vocab, inverse = unique_inverse(np.concatenate([vocab, local]))
            df = np.bincount(inverse, weights=np.concatenate([df, counts])).astype(np.int64)
        return vocab, df

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        if not hasattr(self, "index_"):
            self.index_ = KeyIndex(self.vocabulary_)
        parts = [self._counts(texts[i : i + BATCH]) for i in range(0, len(texts), BATCH)]
        counts = sparse.vstack(parts, format="csr") if len(parts) != 1 else parts[0]
        counts.data = (1.0 + np.log(counts.data)) * self.idf_[counts.indices]
        return normalize(counts, copy=False)

    def _counts(self, texts: Sequence[str]) -> sparse.csr_matrix:
        width = len(self.vocabulary_)
        docs, keys = ngram_keys(texts, self.ngram_range)
        cols = self.index_.lookup(keys)
        hit = cols >= 0
        pairs = np.sort(docs[hit] * width + cols[hit])
        starts = np.flatnonzero(np.r_[True, pairs[1:] != pairs[:-1]]) if len(pairs) else pairs
        counts = np.diff(np.r_[starts, len(pairs)]).astype(np.float64)
        rows, cols = np.divmod(pairs[starts], width)
        indptr = np.searchsorted(rows, np.arange(len(texts) + 1))
        return sparse.csr_matrix((counts, cols, indptr), shape=(len(texts), width))

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "index_"}  # rebuilt on first use


# ---------------------------------------------------------------------------------------------
# The model


@dataclass(frozen=True)
class Model:
    """A fitted classifier: `labels` in column order, `meta` for the record (n_samples, classes,
    algorithm and params; the caller adds trained_at and the like)."""

    pipeline: Pipeline
    labels: tuple[str, ...]
    meta: dict[str, Any]

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text, one column per label, each row summing to 1."""
        if isinstance(texts, str):
            raise TypeError("texts 应为文本列表 (texts must be a sequence of strings, not one)")
        if not len(texts):
            return np.zeros((0, len(self.labels)))
        return self.pipeline.predict_proba([clean(t) for t in texts])

    def predict(self, texts: Sequence[str], k: int = 3) -> list[list[tuple[str, float]]]:
        """The k most likely labels of each text with their confidences, most likely first."""
        probs = self.probabilities(texts)
        best = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        top = np.take_along_axis(probs, best, axis=1)
        labels = self.labels
        return [
            [(labels[j], float(p)) for j, p in zip(row, ps, strict=True)]
            for row, ps in zip(best.tolist(), top.tolist(), strict=True)
        ]

    def to_bytes(self) -> bytes:
        header = {"format": FORMAT_VERSION, "sklearn": sklearn.__version__}
        body = pickle.dumps(
            {"pipeline": self.pipeline, "labels": self.labels, "meta": self.meta},
            protocol=pickle.HIGHEST_PROTOCOL,
        )
        return MAGIC + json.dumps(header).encode() + b"\n" + body

    @classmethod
    def from_bytes(cls, data: bytes) -> Model:
        """The model `to_bytes` wrote. Trusted bytes only: unpickling runs code."""
        if not data.startswith(MAGIC):
            raise ValueError("不是分类模型数据 (not chengzhi triage model bytes)")
        line, _, body = data[len(MAGIC) :].partition(b"\n")
        header = json.loads(line)
        if header.get("format") != FORMAT_VERSION:
            raise ValueError(
                f"模型格式版本 {header.get('format')} 不受支持，请重新训练 "
                f"(model format {header.get('format')} is not supported; retrain)"
            )
        saved = pickle.loads(body)  # noqa: S301 - our own bytes, see the module docstring
        return cls(saved["pipeline"], tuple(saved["labels"]), saved["meta"])


# ---------------------------------------------------------------------------------------------
# Training


def check_training_data(texts: Sequence[str], labels: Sequence[str]) -> Counter[str]:
    """The count of each label, or a ValueError saying what is wrong with the data."""
    if isinstance(texts, str) or isinstance(labels, str):
        raise ValueError("texts 与 labels 应为列表 (texts and labels must be sequences)")
    if len(texts) != len(labels):
        raise ValueError(
            f"文本数 {len(texts)} 与标签数 {len(labels)} 不一致 "
            f"(got {len(texts)} texts but {len(labels)} labels)"
        )
    if not len(texts):
        raise ValueError("训练数据为空 (no training data)")
    counts = Counter(labels)
    if len(counts) < 2:
        raise ValueError("至少需要两个类别 (at least two classes are needed)")
    rare = sorted(label for label, n in counts.items() if n < 2)
    if rare:
        raise ValueError(
            f"每个类别至少需要 2 条样本，以下类别不足：{'、'.join(map(str, rare))} "
            f"(every class needs at least 2 examples; too few: {', '.join(map(str, rare))})"
        )
    return counts


def make_pipeline_for(counts: Counter[str], seed: int) -> Pipeline:
    """Text and head n-grams side by side, into a calibrated, class-balanced linear SVM."""
    features = FeatureUnion(
        [
            ("text", CharNgramTfidf()),
            ("head", make_pipeline(FunctionTransformer(heads), CharNgramTfidf())),
        ]
    )
    folds = min(CALIBRATION_FOLDS, min(counts.values()))
    svm = LinearSVC(C=SVM_C, class_weight="balanced", random_state=seed)
    calibrated = CalibratedClassifierCV(
        svm,
        method="sigmoid",
        cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
        ensemble=False,
    )
    return Pipeline([("features", features), ("classifier", calibrated)])


def train(texts: Sequence[str], labels: Sequence[str], *, seed: int = 0) -> Model:
    """Fit a model on (text, label) pairs; texts as `prepare` makes them, or raw."""
    counts = check_training_data(texts, labels)
    pipeline = make_pipeline_for(counts, seed)
    started = time.perf_counter()
    pipeline.fit([clean(t) for t in texts], [str(label) for label in labels])
    meta = {
        "format": FORMAT_VERSION,
        "algorithm": "char 1-3-gram tf-idf (text + head) → LinearSVC, sigmoid-calibrated",
        "params": {
            "ngram_range": [1, 3],
            "min_df": 2,
            "max_features": CharNgramTfidf().max_features,
            "head_chars": HEAD_CHARS,
            "C": SVM_C,
            "class_weight": "balanced",
            "calibration_folds": pipeline["classifier"].cv.n_splits,
            "seed": seed,
        },
        "n_samples": len(texts),
        "classes": dict(sorted(counts.items())),
        "n_features": sum(len(t.vocabulary_) for t in vectorizers(pipeline)),
        "train_seconds": round(time.perf_counter() - started, 3),
        "sklearn": sklearn.__version__,
    }
    return Model(pipeline, tuple(str(c) for c in pipeline.classes_), meta)


def vectorizers(pipeline: Pipeline) -> list[CharNgramTfidf]:
    text, head = pipeline["features"].transformer_list
    return [text[1], head[1][-1]]


# ---------------------------------------------------------------------------------------------
# Evaluation


@dataclass(frozen=True)
class ClassScores:
    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Evaluation:
    """Cross-validated quality: every message predicted once, by a model that never saw it."""

    folds: int
    n_samples: int
    accuracy: float
    macro_f1: float
    top3_accuracy: float
    per_class: tuple[ClassScores, ...]
    labels: tuple[str, ...]
    confusion: tuple[tuple[int, ...], ...]  # rows: true label, columns: predicted, as `labels`
    train_seconds: float  # mean per fold
    predict_per_second: float

    def rows(self) -> list[tuple[str, float, float, float, int]]:
        """(label, precision, recall, F1, support) per class, for a table."""
        return [(c.label, c.precision, c.recall, c.f1, c.support) for c in self.per_class]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate(
    texts: Sequence[str], labels: Sequence[str], *, folds: int = 5, seed: int = 0
) -> Evaluation:
    """Stratified k-fold cross-validation of `train`.

    A class with fewer messages than folds is an error rather than a quiet reduction of the
    folds: its scores would be noise, and the figure would not be comparable between runs. Drop
    or merge such classes first, or ask for fewer folds (at least 3, so that every training
    part keeps two messages of each class for calibration)."""
    counts = check_training_data(texts, labels)
    check_folds(counts, folds)
    truth = np.array([str(label) for label in labels], dtype=object)
    ranked: list[list[str]] = [[] for _ in texts]
    train_time = predict_time = 0.0
    splits = StratifiedKFold(folds, shuffle=True, random_state=seed).split(
        np.zeros(len(truth)), truth
    )
    for fit_idx, test_idx in splits:
        started = time.perf_counter()
        model = train([texts[i] for i in fit_idx], truth[fit_idx].tolist(), seed=seed)
        train_time += time.perf_counter() - started
        started = time.perf_counter()
        predicted = model.predict([texts[i] for i in test_idx], k=3)
        predict_time += time.perf_counter() - started
        for i, top in zip(test_idx, predicted, strict=True):
            ranked[i] = [label for label, _ in top]
    return score(truth.tolist(), ranked, folds, train_time / folds, len(texts) / predict_time)


def check_folds(counts: Counter[str], folds: int) -> None:
    if folds < 3:
        raise ValueError(f"折数至少为 3，现为 {folds} (folds must be at least 3, got {folds})")
    rare = sorted(f"{label}={n}" for label, n in counts.items() if n < folds)
    if rare:
        raise ValueError(
            f"以下类别的样本少于 {folds} 折：{'、'.join(rare)}；请合并或删除这些类别，或减少折数 "
            f"(classes with fewer examples than {folds} folds: {', '.join(rare)}; "
            "merge or drop them, or use fewer folds)"
        )


def score(
    truth: list[str], ranked: list[list[str]], folds: int, train_s: float, per_s: float
) -> Evaluation:
    labels = sorted(set(truth))
    predicted = [r[0] for r in ranked]
    p, r, f, s = precision_recall_fscore_support(truth, predicted, labels=labels, zero_division=0)
    per_class = tuple(
        ClassScores(label, float(p[i]), float(r[i]), float(f[i]), int(s[i]))
        for i, label in enumerate(labels)
    )
    matrix = confusion_matrix(truth, predicted, labels=labels)
    return Evaluation(
        folds=folds,
        n_samples=len(truth),
        accuracy=float(np.mean([t == q for t, q in zip(truth, predicted, strict=True)])),
        macro_f1=float(np.mean(f)),
        top3_accuracy=float(np.mean([t in q for t, q in zip(truth, ranked, strict=True)])),
        per_class=per_class,
        labels=tuple(labels),
        confusion=tuple(tuple(int(x) for x in row) for row in matrix),
        train_seconds=train_s,
        predict_per_second=per_s,
    )
