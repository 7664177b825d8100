"""The one configured case engine of the product."""

from flask import current_app, has_app_context

from engine.budget import DEFAULT_BUDGET, Budget
from engine.runtime import RetryPolicy, Runtime
from processes.hooks import CaseHooks
from processes.operators import OPERATORS
from processes.vocabulary import VOCABULARY
from services.assignments import rules


def configured_budget() -> Budget:
    """Return the budgets of diagram code set in the app's config (EXPRESSION_TIME_MS, …), or the defaults."""
    if not has_app_context():
        return DEFAULT_BUDGET
    config = current_app.config
    return Budget(
        expression_ms=config.get("EXPRESSION_TIME_MS", DEFAULT_BUDGET.expression_ms),
        expression_mb=config.get("EXPRESSION_MEMORY_MB", DEFAULT_BUDGET.expression_mb),
        advance_steps=config.get("ADVANCE_MAX_STEPS", DEFAULT_BUDGET.advance_steps),
        advance_ms=config.get("ADVANCE_TIME_MS", DEFAULT_BUDGET.advance_ms),
    )


def configured_retry_policy() -> RetryPolicy:
    """Return the service-task leases set in the app's config (OUTBOX_LEASE_SECONDS, …), or the defaults."""
    default = RetryPolicy()
    if not has_app_context():
        return default
    config = current_app.config
    return RetryPolicy(lease_seconds=config.get("OUTBOX_LEASE_SECONDS", default.lease_seconds),
                       requeue_seconds=config.get("OUTBOX_REQUEUE_SECONDS", default.requeue_seconds))


RUNTIME = Runtime(VOCABULARY, OPERATORS, CaseHooks(), assignments=rules, budget=configured_budget,
                  retry_policy=configured_retry_policy)
