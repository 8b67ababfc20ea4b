"""Data in and out: CSV reading and writing, the exports, the import, FHIR."""
