/// mimalloc in place of the C library's allocator: a referral allocates and
/// frees thousands of small buffers (SQL, JSON, TLS records) across threads,
/// and glibc's malloc took about an eighth of the node's CPU doing it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    passerelle::cli::main()
}
