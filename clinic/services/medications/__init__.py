"""What was given during a procedure: medications, corticosteroid equivalence and exposure."""
