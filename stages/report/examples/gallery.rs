//! Runs `evaluate` on the hand-made inputs of the tests and leaves every file in a folder, to
//! look at the figures: `cargo run -p vox-report --example gallery -- DIR`.

#[path = "../tests/common/mod.rs"]
mod common;

fn main() {
    let Some(root) = std::env::args_os().nth(1).map(std::path::PathBuf::from) else {
        eprintln!("usage: gallery DIR");
        std::process::exit(2);
    };
    let inputs = common::write_inputs(&root.join("inputs"));
    match common::run(&root, "", &inputs) {
        Ok(out) => println!("{}", out.join("report").display()),
        Err(e) => {
            eprintln!("evaluate failed: {e}");
            std::process::exit(1);
        }
    }
}
