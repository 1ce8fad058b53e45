"""Ability: multi-tenant approval workflows for back offices."""

__version__ = "0.1.0"
