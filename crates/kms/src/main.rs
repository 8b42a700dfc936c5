use clap::Parser;

fn main() {
    std::process::exit(kms::cli::run(kms::cli::Cli::parse()));
}
