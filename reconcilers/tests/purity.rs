//! The decision core stays pure: no async runtime, HTTP client or filesystem crate among its
//! normal dependencies (checked with `cargo tree`), and no clock, filesystem, network, process
//! or randomness API in its source.

use std::path::Path;
use std::process::Command;

const FORBIDDEN_CRATES: [&str; 8] = [
    "tokio", "reqwest", "hyper", "mio", "notify", "tempfile", "walkdir", "rand",
];

#[test]
fn cargo_tree_shows_no_io_runtime_or_http_crates() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "none",
            "-p",
            "shepard-reconcilers",
            "--manifest-path",
        ])
        .arg(&manifest)
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8_lossy(&output.stdout);
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        crates.contains(&"serde_json"),
        "unexpected cargo tree output:\n{tree}"
    );
    for forbidden in FORBIDDEN_CRATES {
        assert!(
            !crates.contains(&forbidden),
            "{forbidden} is a dependency of shepard-reconcilers:\n{tree}"
        );
    }
    println!(
        "cargo tree -p shepard-reconcilers -e normal: {} crates, none of {:?}",
        crates.len(),
        FORBIDDEN_CRATES
    );
}

#[test]
fn source_uses_no_clock_io_or_randomness() {
    let forbidden = [
        "std::fs",
        "File::open",
        "File::create",
        "OpenOptions",
        "SystemTime::now",
        "Instant::now",
        "std::net",
        "std::process",
        "std::thread",
        "rand::",
        "std::env",
    ];
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut stack = vec![src];
    let mut files = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src is readable") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            files += 1;
            let text = std::fs::read_to_string(&path).expect("source is readable");
            for word in forbidden {
                assert!(!text.contains(word), "{} uses {word}", path.display());
            }
        }
    }
    assert!(files > 10, "only {files} source files found");
}
