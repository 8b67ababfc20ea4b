"""One blueprint per area of the clinic."""
