"""Citizens' reports (12345 hotline): cases filed by a hotline system become incidents and work orders."""
