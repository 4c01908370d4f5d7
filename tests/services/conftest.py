from support.postgres import database, postgres_server, postgres_url  # noqa: F401  (fixtures)
