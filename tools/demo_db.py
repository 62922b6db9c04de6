"""The demo target database for the local cycle: the schema of
examples/masking-rules.toml (customers, orders referencing customers,
payments referencing orders) filled with generated rows, on the local MariaDB
or PostgreSQL, through their command-line clients."""

from __future__ import annotations

import subprocess

DEFAULT_NAME = "dms_refresh_demo"

ENGINES = {
    # engine: (DMS engine name, port, admin user)
    "mariadb": ("mariadb", 3306, "root"),
    "postgres": ("postgres", 5432, "postgres"),
}


def _run(engine: str, sql: str, database: str | None = None) -> str:
    if engine == "mariadb":
        args = ["mariadb", "--protocol=tcp", "-h", "127.0.0.1", "-P", "3306", "-uroot",
                "--batch", "--skip-column-names"]
        if database:
            args.append(database)
    else:
        args = ["psql", "-q", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                "-U", "postgres", "-d", database or "postgres"]
    result = subprocess.run(args, input=sql, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{engine}: {result.stderr.strip()}")
    return result.stdout


def create(engine: str, rows: int, name: str = DEFAULT_NAME) -> None:
    """(Re)create the demo database `name` with `rows` customers, orders and payments."""
    if engine == "mariadb":
        _run(engine, f"DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name};")
        series, text = f"(SELECT seq AS i FROM seq_1_to_{rows}) s", "CHAR"
        date = "DATE_ADD('1950-01-01', INTERVAL MOD(i * 37, 18000) DAY)"
    else:
        _run(engine, f"DROP DATABASE IF EXISTS {name} WITH (FORCE);")
        _run(engine, f"CREATE DATABASE {name};")
        series, text = f"generate_series(1, {rows}) AS s(i)", "TEXT"
        date = "DATE '1950-01-01' + MOD(i * 37, 18000)"
    first = "ELT(1 + MOD(i, 5), 'Alice', 'Bruno', 'Chen', 'Dalia', 'Emeka')" if engine == "mariadb" \
        else "(ARRAY['Alice','Bruno','Chen','Dalia','Emeka'])[1 + MOD(i, 5)]"
    _run(engine, f"""
CREATE TABLE customers (
  id INTEGER PRIMARY KEY, email VARCHAR(200) NOT NULL UNIQUE, first_name VARCHAR(100),
  last_name VARCHAR(100), phone VARCHAR(40), birth_date DATE, city VARCHAR(100));
CREATE TABLE orders (
  id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, customer_email VARCHAR(200) NOT NULL,
  amount DECIMAL(12,2) NOT NULL,
  CONSTRAINT orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id));
CREATE TABLE payments (
  id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL, card_number VARCHAR(19) NOT NULL,
  amount DECIMAL(12,2) NOT NULL,
  CONSTRAINT payments_order FOREIGN KEY (order_id) REFERENCES orders (id));
INSERT INTO customers
  SELECT i, CONCAT('Customer.', CAST(i AS {text}), '@Example.com'), {first},
         CONCAT('Surname', CAST(i AS {text})),
         CASE WHEN MOD(i, 10) = 0 THEN NULL ELSE CONCAT('+1-202-555-', CAST(1000 + MOD(i, 9000) AS {text})) END,
         {date}, 'Lisbon'
  FROM {series};
INSERT INTO orders
  SELECT i, i, CONCAT('Customer.', CAST(i AS {text}), '@Example.com'), 10 + MOD(i * 7, 990) FROM {series};
INSERT INTO payments
  SELECT i, i, CONCAT('4111', LPAD(CAST(i AS {text}), 12, '0')), 10 + MOD(i * 7, 990) FROM {series};
""", name)


def sample(engine: str, name: str = DEFAULT_NAME, limit: int = 3) -> list[list[str]]:
    out = _run(engine, f"""
SELECT c.id, c.email, c.first_name, c.last_name, c.phone, c.birth_date, o.customer_email,
       p.card_number
FROM customers c JOIN orders o ON o.customer_id = c.id JOIN payments p ON p.order_id = o.id
ORDER BY c.id LIMIT {limit};""", name)
    sep = "\t" if engine == "mariadb" else "|"
    return [line.split(sep) for line in out.strip().splitlines()]


def secret(engine: str, name: str = DEFAULT_NAME) -> dict:
    dms_engine, port, user = ENGINES[engine]
    return {"engine": dms_engine, "host": "127.0.0.1", "port": port, "username": user,
            "password": "", "dbname": name}


def drop(engine: str, name: str) -> None:
    if engine == "mariadb":
        _run(engine, f"DROP DATABASE IF EXISTS {name};")
    else:
        _run(engine, f"DROP DATABASE IF EXISTS {name} WITH (FORCE);")
