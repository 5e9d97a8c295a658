"""Triage of citizen appeals: topic classifier, urgency flags and request-type guess (分拣)."""
