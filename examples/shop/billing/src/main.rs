//! Billing: turns orders into invoices. Reads the invoice queue, archives invoices, announces them.

fn main() {
    let queue = std::env::var("JITI_BILLING_QUEUEURL").unwrap_or_else(|_| "(not deployed)".into());
    println!("billing {} reading invoices from {queue}", env!("CARGO_PKG_VERSION"));
}
