"""Moderation: every message entering or leaving a conversation passes `Moderator.check`.

    from policies.moderation import load_moderator
    moderator = load_moderator(settings)      # trained classifier if present, else rules+package
    result = moderator.check(text, source="shopper")

See docs/moderation.md for categories, actions, training and evaluation.
"""
from __future__ import annotations

from policies.moderation.config import CategoryPolicy, ModerationConfig
from policies.moderation.moderator import ShopModerator, load_moderator
from policies.moderation_api import AllowAll, ModerationResult, Moderator

__all__ = [
    "AllowAll",
    "CategoryPolicy",
    "ModerationConfig",
    "ModerationResult",
    "Moderator",
    "ShopModerator",
    "load_moderator",
]
