"""The four spend hashes of a reservation's periods: day, week, month and total, in that
order (``store.admission.spend_keys``)."""

Periods = tuple[str, str, str, str]
