from support.scaleout import local_postgres  # noqa: F401  (fixture)
