//! Test helper: print each argument after the first on its own line, then exit with the code
//! given as the first argument (`rpt-exit 3 hello`).
fn main() {
    let mut args = std::env::args().skip(1);
    let code: i32 = args.next().and_then(|c| c.parse().ok()).unwrap_or(0);
    for a in args {
        println!("{a}");
    }
    std::process::exit(code);
}
