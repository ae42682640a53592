"""Pure business rules: no AWS, HTTP or database types in here."""
