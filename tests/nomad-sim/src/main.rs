//! nomad-sim: a simulated Nomad cluster (client nodes, jobs, allocations, templates, services)
//! serving Nomad's HTTP API, for shepard's end-to-end tests.

fn main() {
    eprintln!("nomad-sim: not built yet");
    std::process::exit(2);
}
