"""Cases (CONTRACT §3): a debtor with open invoices as of an instant.

A *case* is what every model and the HTTP API work on. It exists in two equivalent forms:

* :class:`Case`, a typed pydantic model: the body of ``POST /score`` and ``/next-action``;
* :class:`CaseSet`, the same facts for many cases in three columnar frames (one row per case,
  one per open invoice, one per recent action), which is what :func:`scoring.features.features`
  consumes. ``CaseSet.from_cases`` and ``CaseSet.to_cases`` convert between the two, so the API
  and training go through exactly the same feature code.

The package holds one thing per module: :mod:`~scoring.cases.schema` (the API body),
:mod:`~scoring.cases.caseset` (the columnar set), :mod:`~scoring.cases.build` (from the
tables); labels and rewards are in :mod:`scoring.labels`.

A case's payment history is either the summary :class:`PaymentHistory` or, in
``Case.past_invoices``, the debtor's invoices themselves, from which validation computes the
summary exactly as training does (:func:`summarize_invoices`, tested against
:func:`history_from_invoices`).

:func:`build_cases` builds a :class:`CaseSet` from raw tables using only facts known before
``as_of``: an event dated ``d`` is known at ``as_of`` when ``d`` is strictly before the calendar
day of ``as_of`` (Europe/Paris), an action when ``decided_at < as_of``.
"""

from scoring.cases.build import (
    build_cases,
    build_cases_at,
    data_end,
    history_from_invoices,
    open_invoice_mask,
)
from scoring.cases.caseset import (
    ACTION_COLS,
    DEBTOR_COLS,
    HISTORY_COLS,
    INVOICE_COLS,
    CaseSet,
)
from scoring.cases.history import summarize_invoices
from scoring.cases.schema import (
    MAX_ACTIONS,
    MAX_INVOICES,
    MAX_PAST_INVOICES,
    AwareDatetime,
    Case,
    Debtor,
    Department,
    OpenInvoice,
    PastAction,
    PastInvoice,
    PaymentHistory,
    as_of_day,
)
from scoring.contract import (
    DUE_HORIZON_DAYS,
    LABEL_HORIZON_DAYS,
    RECENT_ACTION_DAYS,
    REFERENCE_TZ,
    REWARD_HORIZON_DAYS,
)

__all__ = [
    "ACTION_COLS", "DEBTOR_COLS", "DUE_HORIZON_DAYS", "HISTORY_COLS", "INVOICE_COLS",
    "LABEL_HORIZON_DAYS", "MAX_ACTIONS", "MAX_INVOICES", "MAX_PAST_INVOICES", "RECENT_ACTION_DAYS",
    "REFERENCE_TZ", "REWARD_HORIZON_DAYS", "AwareDatetime", "Case", "CaseSet", "Debtor",
    "Department", "OpenInvoice", "PastAction", "PastInvoice", "PaymentHistory", "as_of_day",
    "build_cases", "build_cases_at", "data_end", "history_from_invoices", "open_invoice_mask",
    "summarize_invoices",
]  # fmt: skip
