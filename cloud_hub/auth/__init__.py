"""Users, password hashing and tokens."""
