"""Audit log (append-only, hash-chained): `from lms import audit; audit.log("people.import", …)`."""
from lms.audit.services import log, verify_chain  # noqa: F401
