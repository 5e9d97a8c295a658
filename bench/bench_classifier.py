"""How well and how fast the appeal topic classifier works, against a naive Bayes baseline.

Quality: 5-fold cross-validated macro-F1 and accuracy on the real sample of 495 appeals
(../shared/data/appeals_sample_zh_495.csv) for `chengzhi.triage.classifier` and, in the same run,
a plain bag-of-characters MultinomialNB (character 1–2-gram counts) and the majority class.
Speed: training on 10,000 messages made from the sample (sentences of a body cropped and
shuffled, the title sometimes dropped), batch prediction in messages/s, and single-message latency.
Skips with a message when the sample is not available.

Usage (from the repository root):
.venv/bin/python bench/bench_classifier.py                   # 10,000 training messages
.venv/bin/python bench/bench_classifier.py --messages 20000 --seed 3
"""

from __future__ import annotations

import argparse
import csv
import random
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from sklearn.feature_extraction.text import CountVectorizer
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import Pipeline, make_pipeline

from chengzhi.triage import classifier

SAMPLE = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
SAMPLE = SAMPLE / "appeals_sample_zh_495.csv"
SENTENCE = re.compile(r"(?<=[。！？!?；;])")
Row = tuple[str, str, str]  # title, body, label


def read_sample(path: Path) -> list[Row]:
    with path.open(encoding="utf-8", newline="") as f:
        return [(r["title"], r["body"], r["label"]) for r in csv.DictReader(f)]


def augment(rows: Sequence[Row], n: int, rng: random.Random) -> tuple[list[str], list[str]]:
    """n messages, each a real one with its body's sentences cropped and shuffled."""
    texts, labels = [], []
    for _ in range(n):
        title, body, label = rng.choice(rows)
        sentences = [s for s in SENTENCE.split(body) if s.strip()] or [body]
        start = rng.randrange(len(sentences))
        kept = sentences[start : start + rng.randint(1, len(sentences))]
        rng.shuffle(kept)
        texts.append(classifier.prepare(title if rng.random() < 0.8 else None, "".join(kept)))
        labels.append(label)
    return texts, labels


def naive_bayes(texts: Sequence[str], labels: Sequence[str]) -> Pipeline:
    model = make_pipeline(CountVectorizer(analyzer="char", ngram_range=(1, 2)), MultinomialNB())
    return model.fit(texts, labels)


def cross_validate(
    fit_predict: Callable[[list[str], list[str], list[str]], list[str]],
    texts: Sequence[str],
    labels: Sequence[str],
) -> tuple[float, float]:
    """(macro-F1, accuracy) of 5-fold stratified cross-validation."""
    predicted = [""] * len(texts)
    for fit, test in StratifiedKFold(5, shuffle=True, random_state=0).split(texts, labels):
        guesses = fit_predict(
            [texts[i] for i in fit], [labels[i] for i in fit], [texts[i] for i in test]
        )
        for i, guess in zip(test, guesses, strict=True):
            predicted[i] = guess
    return f1_score(labels, predicted, average="macro"), accuracy_score(labels, predicted)


def ours(fit: list[str], labels: list[str], test: list[str]) -> list[str]:
    return [top[0][0] for top in classifier.train(fit, labels).predict(test, k=1)]


def bayes(fit: list[str], labels: list[str], test: list[str]) -> list[str]:
    return naive_bayes(fit, labels).predict(test).tolist()


def majority(fit: list[str], labels: list[str], test: list[str]) -> list[str]:
    return [Counter(labels).most_common(1)[0][0]] * len(test)


def timed(call: Callable[[], object]) -> tuple[object, float]:
    started = time.perf_counter()
    out = call()
    return out, time.perf_counter() - started


def best_rate(call: Callable[[], object], n: int, repeat: int = 3) -> float:
    """Items per second of the fastest of a few runs: the machine is shared and noisy."""
    return n / min(timed(call)[1] for _ in range(repeat))


def latency_ms(predict_one: Callable[[str], object], texts: Sequence[str]) -> float:
    times = [timed(lambda t=t: predict_one(t))[1] for t in texts]
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000, help="training messages")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if not SAMPLE.exists():
        print("appeals_sample_zh_495.csv: ../shared/data not available, skipped")
        return
    rows = read_sample(SAMPLE)
    texts = [classifier.prepare(title, body) for title, body, _ in rows]
    labels = [label for _, _, label in rows]

    print(f"5-fold CV on the real sample ({len(rows)} messages, {len(set(labels))} classes)")
    for name, fit_predict in (("classifier", ours), ("naive Bayes", bayes), ("majority", majority)):
        f1, acc = cross_validate(fit_predict, texts, labels)
        print(f"  {name:12s} macro-F1 {f1:.3f}   accuracy {acc:.3f}")

    big, big_labels = augment(rows, args.messages, random.Random(args.seed))
    model, train_s = timed(lambda: classifier.train(big, big_labels))
    nb, nb_train_s = timed(lambda: naive_bayes(big, big_labels))
    rate = best_rate(lambda: model.predict(big), len(big))
    nb_rate = best_rate(lambda: nb.predict_proba(big), len(big))
    single = latency_ms(lambda t: model.predict([t]), big[:300])
    nb_single = latency_ms(lambda t: nb.predict_proba([t]), big[:300])
    size = len(model.to_bytes()) / 2**20

    print(
        f"{len(big):,} training messages (seed {args.seed}), {model.meta['n_features']:,} features"
    )
    print(f"  train       {train_s:8.1f} s        naive Bayes {nb_train_s:8.1f} s        ", end="")
    print(f"×{train_s / nb_train_s:,.1f}   (target ≤ 60 s)")
    print(f"  predict     {rate:8,.0f} msgs/s   naive Bayes {nb_rate:8,.0f} msgs/s   ", end="")
    print(f"×{rate / nb_rate:,.2f}   (target ≥ 5,000/s)")
    print(f"  one message {single:8.2f} ms       naive Bayes {nb_single:8.2f} ms       ", end="")
    print(f"×{single / nb_single:,.1f}")
    print(f"  model size  {size:8.1f} MiB")


if __name__ == "__main__":
    main()
