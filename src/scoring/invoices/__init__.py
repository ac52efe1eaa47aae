"""Invoice-level risk: the payment-date distribution and the dispute probability of each open
invoice, their roll-up into case probabilities, and the cash forecast built from them."""

from scoring.invoices.features import InvoiceMatrix, invoice_matrix
from scoring.invoices.model import InvoiceModels, InvoiceScores

__all__ = ["InvoiceMatrix", "InvoiceModels", "InvoiceScores", "invoice_matrix"]
