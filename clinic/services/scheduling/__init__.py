"""The schedule: bookings of procedures and visits, their clashes and statuses."""
