"""Topic classification (TF-IDF + logistic regression) and the `Understanding` of one utterance.

The classifier is trained when the agent loads, on the topics' example utterances plus the
off-topic examples that stand for the fallback topic "Unknown". Text is normalised the way
speech-to-text would produce it (lowercase, no punctuation, numbers as a `num` token), so typed
and transcribed text look alike. Features are word 1-2-grams plus character 2-4-grams within
word boundaries (robust to STT misspellings); probabilities come from a multinomial logistic
regression, which is fitted on log-loss and so gives usable confidences. Below the agent's
threshold (or when "Unknown" wins) the topic is "Unknown".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from workbench.agent.definition import UNKNOWN_TOPIC
from workbench.agent.entities import Entity, extract_entities, normalise


@dataclass(frozen=True)
class Understanding:
    """What the agent understood from one caller utterance."""

    text: str
    topic: str
    confidence: float
    runner_up: str
    runner_up_confidence: float
    entities: tuple[Entity, ...] = ()

    def entity(self, type_: str) -> Entity | None:
        """The first entity of that type, if any."""
        return next((e for e in self.entities if e.type == type_), None)


_DIGITS = re.compile(r"\d+(?:st|nd|rd|th)?")
_CONTRACTIONS = {
    "'s": " is",
    "n't": " not",
    "'m": " am",
    "'re": " are",
    "'ll": " will",
    "'d": " would",
}


def classifier_text(text: str) -> str:
    """STT-like form: lowercase words, numbers (spoken or written) as `num`, no punctuation."""
    lowered = text.lower().replace("’", "'")
    for short, long in _CONTRACTIONS.items():
        lowered = lowered.replace(short, long)
    norm = normalise(lowered).text
    norm = _DIGITS.sub(" num ", norm)
    return " ".join(re.sub(r"[^a-z ]+", " ", norm).split())


def import_sklearn() -> None:
    """Import what training needs (~0.7 s of the load, more on a busy machine), for timing apart."""
    import sklearn.feature_extraction.text  # noqa: F401
    import sklearn.linear_model  # noqa: F401
    import sklearn.model_selection  # noqa: F401


class TopicClassifier:
    """TF-IDF (word 1-2 + char_wb 2-4) features, logistic regression, temperature calibration.

    Training happens at agent load (~0.1-0.5 s for a few hundred examples). The logistic
    regression's raw probabilities are over-confident on so small a training set, so a single
    temperature is fitted on out-of-fold scores (5-fold cross-validation, which also yields
    `cv_accuracy`) to make `confidence` mean what it says. Prediction is a sparse dot product
    plus a softmax in numpy (~1 ms), not scikit-learn's `predict_proba` with its per-call overhead.
    """

    def __init__(self, examples: dict[str, list[str]], threshold: float, c: float = 10.0) -> None:
        # Imported here: scikit-learn costs ~0.7 s to import and `workbench --help` need not pay.
        from threadpoolctl import threadpool_limits

        self.threshold = threshold
        self._c = c
        texts = [classifier_text(t) for examples_ in examples.values() for t in examples_]
        labels = [topic for topic, examples_ in examples.items() for _ in examples_]
        # One BLAS thread: on a busy 2-core laptop, thread oversubscription makes this 50x slower.
        with threadpool_limits(limits=1):
            self._fit(texts, labels)
            self.temperature, self.cv_accuracy = self._calibrate(texts, labels)

    def _fit(self, texts: list[str], labels: list[str]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        self._word = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
        self._char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)
        features = self._features(texts, fit=True)
        model = LogisticRegression(C=self._c, max_iter=1000, solver="newton-cg")
        model.fit(features, labels)
        self.classes: list[str] = [str(c) for c in model.classes_]
        coef, intercept = np.asarray(model.coef_), np.asarray(model.intercept_)
        if len(self.classes) == 2:
            # Binary logistic regression keeps one row: p(second) = softmax([0, w.x + b]).
            coef = np.vstack([np.zeros_like(coef[0]), coef[0]])
            intercept = np.array([0.0, intercept[0]])
        self._coef = np.ascontiguousarray(coef.T)
        self._intercept = intercept.astype(float)
        self._analyze_word = self._word.build_analyzer()
        self._analyze_char = self._char.build_analyzer()

    def _features(self, texts: list[str], fit: bool = False):  # noqa: ANN202 (scipy sparse)
        from scipy.sparse import hstack

        if fit:
            return hstack(
                [self._word.fit_transform(texts), self._char.fit_transform(texts)]
            ).tocsr()
        return hstack([self._word.transform(texts), self._char.transform(texts)]).tocsr()

    def _calibrate(
        self, texts: list[str], labels: list[str], folds: int = 5
    ) -> tuple[float, float]:
        """Temperature minimising out-of-fold log-loss, and the cross-validated accuracy."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold

        y = np.array(labels)
        folds = min(folds, min(labels.count(c) for c in self.classes))
        if folds < 2:
            return 1.0, float("nan")
        logits = np.zeros((len(texts), len(self.classes)))
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
        for train, test in splitter.split(texts, y):
            word = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
            char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)
            from scipy.sparse import hstack

            train_texts = [texts[i] for i in train]
            test_texts = [texts[i] for i in test]
            x_train = hstack([word.fit_transform(train_texts), char.fit_transform(train_texts)])
            x_test = hstack([word.transform(test_texts), char.transform(test_texts)])
            model = LogisticRegression(C=self._c, max_iter=1000, solver="newton-cg")
            model.fit(x_train, y[train])
            columns = [self.classes.index(str(c)) for c in model.classes_]
            scores = model.decision_function(x_test)
            if scores.ndim == 1:
                scores = np.column_stack([np.zeros_like(scores), scores])
            logits[np.ix_(np.asarray(test), np.asarray(columns))] = scores
        truth = np.array([self.classes.index(label) for label in labels])
        accuracy = float(np.mean(logits.argmax(axis=1) == truth))
        best_t, best_loss = 1.0, np.inf
        for t in np.linspace(0.3, 3.0, 28):
            p = _softmax(logits / t)
            loss = -np.mean(np.log(p[np.arange(len(truth)), truth] + 1e-12))
            if loss < best_loss:
                best_t, best_loss = float(t), loss
        return best_t, accuracy

    def _sparse_logits(self, text: str) -> np.ndarray:
        """The same TF-IDF features as scikit-learn's `transform`, computed directly.

        `TfidfVectorizer.transform` spends ~1-3 ms per call on input validation; for one short
        utterance the analyzers, a dictionary look-up and an L2 norm are all that is needed.
        """
        logits = self._intercept.copy()
        offset = 0
        for vectorizer, analyze in (
            (self._word, self._analyze_word),
            (self._char, self._analyze_char),
        ):
            vocabulary = vectorizer.vocabulary_
            counts: dict[int, int] = {}
            for gram in analyze(text):
                index = vocabulary.get(gram)
                if index is not None:
                    counts[index] = counts.get(index, 0) + 1
            if counts:
                indices = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
                tf = 1.0 + np.log(np.fromiter(counts.values(), dtype=float, count=len(counts)))
                weights = tf * vectorizer.idf_[indices]
                weights /= np.linalg.norm(weights)
                logits += weights @ self._coef[offset + indices]
            offset += len(vocabulary)
        return logits

    def scores(self, text: str) -> list[tuple[str, float]]:
        """All topics with their calibrated probabilities, best first."""
        logits = self._sparse_logits(classifier_text(text))
        probs = _softmax(logits[None, :] / self.temperature)[0]
        return sorted(zip(self.classes, probs.tolist(), strict=True), key=lambda p: -p[1])

    def classify(self, text: str) -> tuple[str, float, str, float]:
        """(topic, confidence, runner_up, runner_up_confidence); "Unknown" below the threshold."""
        if not classifier_text(text):
            return UNKNOWN_TOPIC, 1.0, UNKNOWN_TOPIC, 0.0
        ranked = self.scores(text)
        (best, p1), (second, p2) = ranked[0], ranked[1]
        if p1 < self.threshold and best != UNKNOWN_TOPIC:
            # Too unsure of any topic: say so, with the best guess as the runner-up.
            p_unknown = dict(ranked).get(UNKNOWN_TOPIC, 0.0)
            return UNKNOWN_TOPIC, round(p_unknown, 4), best, round(p1, 4)
        return best, round(p1, 4), second, round(p2, 4)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def understand(
    classifier: TopicClassifier, text: str, reference: datetime | None = None
) -> Understanding:
    topic, confidence, runner_up, runner_up_confidence = classifier.classify(text)
    entities = extract_entities(text, reference)
    return Understanding(text, topic, confidence, runner_up, runner_up_confidence, entities)
