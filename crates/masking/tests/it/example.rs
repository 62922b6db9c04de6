use masking::{Dialect, RunOutcome};

use crate::common::*;

const EXAMPLE: &str = include_str!("../../../../examples/masking-rules.toml");

/// The documented example file runs as-is on the demo schema of both engines.
async fn example_rules_on_demo_schema(d: Dialect) {
    let db = TestDb::new(d).await;
    let serial = match d {
        Dialect::MySql => "INT AUTO_INCREMENT PRIMARY KEY",
        Dialect::Postgres => "SERIAL PRIMARY KEY",
    };
    db.exec(&format!(
        "CREATE TABLE customers (id {serial}, email VARCHAR(120) NOT NULL UNIQUE, first_name VARCHAR(40), \
         last_name VARCHAR(40), phone VARCHAR(20), birth_date DATE, city VARCHAR(40))"
    ))
    .await;
    db.exec(&format!(
        "CREATE TABLE orders (id {serial}, customer_id INT NOT NULL, customer_email VARCHAR(120), amount DECIMAL(12,2), \
         CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers(id))"
    ))
    .await;
    db.exec(&format!(
        "CREATE TABLE payments (id {serial}, order_id INT NOT NULL, card_number VARCHAR(19), amount DECIMAL(12,2), \
         CONSTRAINT payments_order_fk FOREIGN KEY (order_id) REFERENCES orders(id))"
    ))
    .await;
    let customers: Vec<String> = (1..=120)
        .map(|i| format!("({i}, 'Cust{i}@Shop.com', 'F{i}', 'L{i}', '+44 20 7946 {i:04}', '1985-03-{:02}', 'London')", i % 28 + 1))
        .collect();
    db.exec(&format!(
        "INSERT INTO customers VALUES {}",
        customers.join(", ")
    ))
    .await;
    let orders: Vec<String> = (1..=300)
        .map(|i| {
            let c = i % 120 + 1;
            format!("({i}, {c}, 'cust{c}@shop.com', {i}.99)")
        })
        .collect();
    db.exec(&format!("INSERT INTO orders VALUES {}", orders.join(", ")))
        .await;
    let payments: Vec<String> = (1..=300)
        .map(|i| format!("({i}, {i}, '4111 1111 1111 {i:04}', {i}.99)"))
        .collect();
    db.exec(&format!(
        "INSERT INTO payments VALUES {}",
        payments.join(", ")
    ))
    .await;
    let join = "SELECT COUNT(*) FROM orders o JOIN customers c ON c.email = o.customer_email";
    let rep = db.mask("example", &rules(EXAMPLE)).await.unwrap();
    assert_eq!(rep.outcome, RunOutcome::Complete);
    assert_eq!(rep.hooks_run.len(), 5, "{:?}", rep.hooks_run);
    assert!(rep.verification.as_ref().unwrap().passed);
    // before-hook lower-cased the emails, so the join now matches all orders
    assert_eq!(db.count(join).await, 300);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM payments WHERE card_number LIKE '***************%'")
            .await,
        300
    );
    if d == Dialect::Postgres {
        assert_eq!(db.count("SELECT nextval('customers_id_seq')").await, 121);
    }
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_rules_on_demo_schema_mysql() {
    example_rules_on_demo_schema(Dialect::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_rules_on_demo_schema_postgres() {
    example_rules_on_demo_schema(Dialect::Postgres).await;
}
