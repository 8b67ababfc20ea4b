"""After a procedure: the follow-up call list and the pain scores that answer it."""
