//! The `shepard` binary: parses the command line and runs the chosen subcommand.

fn main() {
    println!("shepard {}", env!("CARGO_PKG_VERSION"));
}
