"""Safety suite: judges, attacks, PII and conformance to TC260-003 / GB/T 45654-2025."""
