use clap::Parser;

/// mimalloc: the server allocates and frees on several threads (request
/// buffers freed by the audit writer, responses by hyper), where glibc's
/// malloc spends a measurable share of each request (docs/PERFORMANCE.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(kms::cli::run(kms::cli::Cli::parse()));
}
