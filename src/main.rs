//! `synaptic` command-line entry point; everything lives in the library.

fn main() {
    std::process::exit(synaptic::cli::main());
}
