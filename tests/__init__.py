"""pyzfsnas test suite (a package so that ``tests.realhosts`` imports work from any rootdir)."""
