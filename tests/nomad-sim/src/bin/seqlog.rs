//! seqlog: writes sequence-numbered lines to stdout and stderr, so log-shipping tests can check
//! that every line arrived exactly once and in order.
//!
//! ```text
//! seqlog [--count N] [--rate LINES_PER_SEC] [--size BYTES] [--start N]
//! ```
//!
//! Each line is `<stream> <seq> <padding>` with `seq` counting from `--start` (default 0) on
//! each stream, padded with `x` to `--size` bytes (default 64, newline included). `--count`
//! lines per stream (default: without end); `--rate` lines per second per stream (default 0:
//! as fast as possible). Exits 0 after the last line, flushing both streams.

use std::io::{self, BufWriter, Write};
use std::time::{Duration, Instant};

struct Options {
    count: Option<u64>,
    rate: u64,
    size: usize,
    start: u64,
}

fn parse() -> Result<Options, String> {
    let mut options = Options {
        count: None,
        rate: 0,
        size: 64,
        start: 0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number: u64 = value
            .parse()
            .map_err(|_| format!("{flag}: not a number: {value:?}"))?;
        match flag.as_str() {
            "--count" => options.count = Some(number),
            "--rate" => options.rate = number,
            "--size" => options.size = usize::try_from(number).map_err(|e| e.to_string())?,
            "--start" => options.start = number,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(options)
}

fn line(stream: &str, seq: u64, size: usize) -> String {
    let mut text = format!("{stream} {seq:08} ");
    while text.len() + 1 < size {
        text.push('x');
    }
    text.push('\n');
    text
}

fn run(options: &Options) -> io::Result<()> {
    let paced = options.rate > 0;
    let mut stdout = BufWriter::new(io::stdout().lock());
    let mut stderr = BufWriter::new(io::stderr().lock());
    let started = Instant::now();
    let mut written = 0u64;
    loop {
        if options.count.is_some_and(|count| written >= count) {
            break;
        }
        let seq = options.start + written;
        stdout.write_all(line("stdout", seq, options.size).as_bytes())?;
        stderr.write_all(line("stderr", seq, options.size).as_bytes())?;
        written += 1;
        if paced {
            // Lines leave at the chosen rate, each as soon as it is due.
            stdout.flush()?;
            stderr.flush()?;
            let due = started + Duration::from_secs_f64(written as f64 / options.rate as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    }
    stdout.flush()?;
    stderr.flush()
}

fn main() {
    let options = match parse() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("seqlog: {message}");
            std::process::exit(2);
        }
    };
    if let Err(error) = run(&options) {
        // A closed pipe ends the program quietly: the reader went away.
        if error.kind() != io::ErrorKind::BrokenPipe {
            eprintln!("seqlog: {error}");
            std::process::exit(1);
        }
    }
}
