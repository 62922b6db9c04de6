"""The demo target database for the local cycle: the schema of
examples/masking-rules.toml (customers, orders referencing customers,
payments referencing orders) filled with generated rows, on the local MariaDB
or PostgreSQL, through their command-line clients.

The publish model has places: on MariaDB each place is a database of the
server, on PostgreSQL a schema of the demo database. `load` writes the rows
DMS would load into a place (the quarantine); a developer login reads the
place it was granted (live)."""

from __future__ import annotations

import os
import subprocess

DEFAULT_NAME = "dms_refresh_demo"
DEVELOPER = "dms_refresh_developer"
DEVELOPER_PASSWORD = "local-demo-developer"

ENGINES = {
    # engine: (DMS engine name, port, admin user)
    "mariadb": ("mariadb", 3306, "root"),
    "postgres": ("postgres", 5432, "postgres"),
}


def _client(engine: str, database: str | None, user: str | None = None) -> list[str]:
    if engine == "mariadb":
        args = ["mariadb", "--protocol=tcp", "-h", "127.0.0.1", "-P", "3306", f"-u{user or 'root'}",
                "--batch", "--skip-column-names"]
        if user:
            args.append(f"-p{DEVELOPER_PASSWORD}")
        return args + ([database] if database else [])
    return ["psql", "-q", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
            "-U", user or "postgres", "-d", database or "postgres"]


def _run(engine: str, sql: str, database: str | None = None, user: str | None = None) -> str:
    env = {**os.environ, "PGPASSWORD": DEVELOPER_PASSWORD} if user else None
    result = subprocess.run(_client(engine, database, user), input=sql, capture_output=True, text=True,
                            env=env)
    if result.returncode != 0:
        raise RuntimeError(f"{engine}: {result.stderr.strip()}")
    return result.stdout


def places(database: str) -> dict[str, str]:
    """The publish model's places for the demo database `database`."""
    return {
        "live": database,
        "quarantine": f"{database}_quarantine",
        "retired": f"{database}_retired",
        "build": f"{database}_build",
    }


def _schema(engine: str, database: str, place: str) -> tuple[str, str]:
    """(database to connect to, qualifier prefix) of a place."""
    if engine == "mariadb":
        return place, ""
    return database, f"{place}."


def create(engine: str, database: str = DEFAULT_NAME) -> None:
    """(Re)create the demo database with its places empty, and the developer login
    with no grants (the post-processor grants it live at each publish)."""
    p = places(database)
    if engine == "mariadb":
        drops = "".join(f"DROP DATABASE IF EXISTS {name}; " for name in p.values())
        _run(engine, f"{drops} CREATE DATABASE {p['quarantine']};"
                     f" DROP USER IF EXISTS '{DEVELOPER}'@'%'; DROP USER IF EXISTS '{DEVELOPER}'@'localhost';"
                     f" CREATE USER '{DEVELOPER}'@'%' IDENTIFIED BY '{DEVELOPER_PASSWORD}';"
                     f" CREATE USER '{DEVELOPER}'@'localhost' IDENTIFIED BY '{DEVELOPER_PASSWORD}';")
    else:
        _run(engine, f"DROP DATABASE IF EXISTS {database} WITH (FORCE);")
        _run(engine, f"DROP ROLE IF EXISTS {DEVELOPER};")
        _run(engine, f"CREATE DATABASE {database};")
        _run(engine, f"CREATE ROLE {DEVELOPER} LOGIN PASSWORD '{DEVELOPER_PASSWORD}';"
                     f" GRANT CONNECT ON DATABASE {database} TO {DEVELOPER};")
        _run(engine, f"CREATE SCHEMA {p['quarantine']}; REVOKE ALL ON SCHEMA public FROM PUBLIC;", database)


def developer_grant(engine: str) -> str:
    """The DEVELOPER_GRANTS entry of the demo developer."""
    return f"{DEVELOPER}=SELECT" if engine == "postgres" else f"'{DEVELOPER}'@'%'=SELECT;'{DEVELOPER}'@'localhost'=SELECT"


def load(engine: str, rows: int, database: str = DEFAULT_NAME, place: str | None = None) -> None:
    """Write `rows` customers, orders and payments into `place` (by default the
    quarantine), as a DMS full load with TargetTablePrepMode DROP_AND_CREATE does."""
    place = place or places(database)["quarantine"]
    db, q = _schema(engine, database, place)
    if engine == "mariadb":
        series, text = f"(SELECT seq AS i FROM seq_1_to_{rows}) s", "CHAR"
        date = "DATE_ADD('1950-01-01', INTERVAL MOD(i * 37, 18000) DAY)"
        first = "ELT(1 + MOD(i, 5), 'Alice', 'Bruno', 'Chen', 'Dalia', 'Emeka')"
    else:
        series, text = f"generate_series(1, {rows}) AS s(i)", "TEXT"
        date = "DATE '1950-01-01' + MOD(i * 37, 18000)"
        first = "(ARRAY['Alice','Bruno','Chen','Dalia','Emeka'])[1 + MOD(i, 5)]"
    _run(engine, f"""
DROP TABLE IF EXISTS {q}payments; DROP TABLE IF EXISTS {q}orders; DROP TABLE IF EXISTS {q}customers;
CREATE TABLE {q}customers (
  id INTEGER PRIMARY KEY, email VARCHAR(200) NOT NULL UNIQUE, first_name VARCHAR(100),
  last_name VARCHAR(100), phone VARCHAR(40), birth_date DATE, city VARCHAR(100));
CREATE TABLE {q}orders (
  id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, customer_email VARCHAR(200) NOT NULL,
  amount DECIMAL(12,2) NOT NULL,
  CONSTRAINT orders_customer FOREIGN KEY (customer_id) REFERENCES {q}customers (id));
CREATE TABLE {q}payments (
  id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL, card_number VARCHAR(19) NOT NULL,
  amount DECIMAL(12,2) NOT NULL,
  CONSTRAINT payments_order FOREIGN KEY (order_id) REFERENCES {q}orders (id));
INSERT INTO {q}customers
  SELECT i, CONCAT('Customer.', CAST(i AS {text}), '@Example.com'), {first},
         CONCAT('Surname', CAST(i AS {text})),
         CASE WHEN MOD(i, 10) = 0 THEN NULL ELSE CONCAT('+1-202-555-', CAST(1000 + MOD(i, 9000) AS {text})) END,
         {date}, 'Lisbon'
  FROM {series};
INSERT INTO {q}orders
  SELECT i, i, CONCAT('Customer.', CAST(i AS {text}), '@Example.com'), 10 + MOD(i * 7, 990) FROM {series};
INSERT INTO {q}payments
  SELECT i, i, CONCAT('4111', LPAD(CAST(i AS {text}), 12, '0')), 10 + MOD(i * 7, 990) FROM {series};
""", db)


SAMPLE = """
SELECT c.id, c.email, c.first_name, c.last_name, c.phone, c.birth_date, o.customer_email,
       p.card_number
FROM {q}customers c JOIN {q}orders o ON o.customer_id = c.id JOIN {q}payments p ON p.order_id = o.id
ORDER BY c.id LIMIT {limit};"""


def sample(engine: str, database: str = DEFAULT_NAME, place: str | None = None, limit: int = 3,
           as_developer: bool = False) -> list[list[str]]:
    """The first rows of `place` (by default live), read as root or as the developer login."""
    place = place or places(database)["live"]
    db, q = _schema(engine, database, place)
    out = _run(engine, SAMPLE.format(q=q, limit=limit), db, DEVELOPER if as_developer else None)
    sep = "\t" if engine == "mariadb" else "|"
    return [line.split(sep) for line in out.strip().splitlines()]


def count(engine: str, database: str, place: str, as_developer: bool = False) -> int:
    db, q = _schema(engine, database, place)
    out = _run(engine, f"SELECT COUNT(*) FROM {q}customers;", db, DEVELOPER if as_developer else None)
    return int(out.strip())


def developer_denied(engine: str, database: str, place: str) -> str | None:
    """The error the developer login gets reading `place`, or None if it can read it."""
    try:
        sample(engine, database, place, limit=1, as_developer=True)
    except RuntimeError as denied:
        return str(denied).splitlines()[0]
    return None


def recorded_requests(engine: str, database: str, operation: str) -> list[str]:
    """The outcomes (JSON text) of the operator requests of kind `operation` kept in the
    ledger's control schema (a database of its own on MariaDB, a schema of the demo
    database on PostgreSQL), oldest first; none before the first is kept."""
    sql = (f"SELECT outcome FROM dms_refresh_control.requests WHERE operation = '{operation}' "
           "ORDER BY recorded_at_ms;")
    try:
        out = _run(engine, sql, database if engine == "postgres" else None)
    except RuntimeError as e:
        if "requests" in str(e) and ("doesn't exist" in str(e) or "does not exist" in str(e)):
            return []
        raise
    return [line for line in out.strip().splitlines() if line]


def secret(engine: str, name: str = DEFAULT_NAME) -> dict:
    dms_engine, port, user = ENGINES[engine]
    return {"engine": dms_engine, "host": "127.0.0.1", "port": port, "username": user,
            "password": "", "dbname": name}


def drop(engine: str, name: str) -> None:
    if engine == "mariadb":
        _run(engine, "".join(f"DROP DATABASE IF EXISTS {p}; " for p in places(name).values())
             + f"DROP USER IF EXISTS '{DEVELOPER}'@'%'; DROP USER IF EXISTS '{DEVELOPER}'@'localhost';")
    else:
        _run(engine, f"DROP DATABASE IF EXISTS {name} WITH (FORCE);")
        _run(engine, f"DROP ROLE IF EXISTS {DEVELOPER};")
