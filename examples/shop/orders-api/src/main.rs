//! Orders API: stores orders and hands each one to billing.

fn main() {
    let table = std::env::var("JITI_ORDERS_API_TABLENAME").unwrap_or_else(|_| "(not deployed)".into());
    println!("orders-api {} storing orders in {table}", env!("CARGO_PKG_VERSION"));
}
