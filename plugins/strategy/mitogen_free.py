"""Ansible's free strategy through Mitogen: one Python per host, kept between tasks (issue 15)."""

from ansible_mitogen.plugins.strategy.mitogen_free import StrategyModule

__all__ = ["StrategyModule"]
