"""Rulesets: the YAML format, its loader, the engine and the rule test runner."""

from safeguard.rules.loader import CompiledRule, Ruleset, load_ruleset, parse_ruleset

__all__ = ["CompiledRule", "Ruleset", "load_ruleset", "parse_ruleset"]
