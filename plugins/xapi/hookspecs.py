"""Hooks the xAPI plugin publishes (added to the app's plugin manager by `XapiPlugin.init_app`).

Implement them in another plugin with `lms.plugins.hookimpl`; they are called inside the transaction
that stores the statements, so write with `db.session` and do not commit (raising aborts the store).
"""
from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("lms")


@hookspec
def lms_event_statement_stored(statements, person_ids):
    """Statements were stored (newly; a re-posted duplicate is not reported again).

    `statements` is a list of statement dicts exactly as stored (with `stored`, `authority`, `version`);
    `person_ids[i]` is the site user id of the actor of `statements[i]` (an account on this site) or None.
    """


@hookspec
def lms_event_statement_voided(statement_ids):
    """The statements with these ids were voided (their effects on projections should be undone)."""
