"""Reconciliation with the providers' daily statements (SPEC §14).

``parsers`` reads a statement (pure, row by row), ``matching`` compares one row
with the ledger (pure), ``service`` runs a day and stores the
``ReconciliationRun`` with its ``Discrepancy`` rows.
"""
