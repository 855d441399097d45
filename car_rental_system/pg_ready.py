"""``python -m car_rental_system.pg_ready URL [--create]``: exit 0 when the
PostgreSQL server of URL answers (and, with --create, after creating URL's
database if it is missing); exit 1 with one line saying why otherwise. Used by
the Makefile's PostgreSQL targets."""

import sys

import dj_database_url
import psycopg
from psycopg import sql


def main(argv: list[str]) -> int:
    url, create = argv[0], "--create" in argv[1:]
    config = dj_database_url.parse(url)
    params = {
        "host": config["HOST"] or None,
        "port": config["PORT"] or None,
        "user": config["USER"] or None,
        "password": config["PASSWORD"] or None,
        "connect_timeout": 3,
    }
    try:
        with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:  # type: ignore[arg-type]
            if create:
                name = config["NAME"]
                exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
                if not exists:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        print(f"PostgreSQL at {url} is not usable: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
