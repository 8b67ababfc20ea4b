"""Who may do what: staff accounts, sign-in and sessions, and the audit trail."""
