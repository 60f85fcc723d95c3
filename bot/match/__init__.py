"""The matching engine: rule language, normalisation, one-pass matcher, relationship gate.

Pure: no I/O, no environment. Public API::

    parse(query, aliases) -> Node                 # syntax.py, RuleSyntaxError with column
    Lexicon.from_mapping(data) / .to_mapping()    # lexicon.py: alias sets + gate config
    validate_rule(query, lexicon) -> None         # before saving a rule
    compile_rules(rules, lexicon) -> Matcher      # all topics, one automaton
    Matcher.match(doc) -> tuple[Match, ...]       # matched topics, in rule order
    Matcher.explain(doc) -> Explanation           # every topic, and why
    load_topics_document(data) -> (Lexicon, [TopicSpec])
    evaluate(matcher, items) -> Report            # precision/recall on a labelled set
"""

from __future__ import annotations

from bot.errors import LexiconError, TopicsDocumentError
from bot.match.compile import Matcher, compile_rules, validate_rule
from bot.match.document import TopicSpec, load_topics_document
from bot.match.explain import Explanation, RelationshipExplanation, TopicExplanation
from bot.match.gate import GateVerdict
from bot.match.lexicon import THRESHOLDS, Lexicon, Relationship, Threshold
from bot.match.syntax import parse, render

__all__ = [
    "THRESHOLDS",
    "Explanation",
    "GateVerdict",
    "Lexicon",
    "LexiconError",
    "Matcher",
    "Relationship",
    "RelationshipExplanation",
    "Threshold",
    "TopicExplanation",
    "TopicSpec",
    "TopicsDocumentError",
    "compile_rules",
    "load_topics_document",
    "parse",
    "render",
    "validate_rule",
]
