//! The library's own tokio runtime: C callers have none, and each blocking
//! call runs its future here.

use std::sync::OnceLock;

use crate::status::{Failure, FlStatus};

static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();

/// Runs `future` to its end on the library's runtime, blocking this thread.
pub(crate) fn block_on<T>(future: impl std::future::Future<Output = T>) -> Result<T, Failure> {
    if tokio::runtime::Handle::try_current().is_ok() {
        // A callback calling back in would deadlock the runtime.
        return Err(Failure::invalid(
            "called from a fieldlink callback or async context; call from an app thread",
        ));
    }
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fieldlink")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    });
    match runtime {
        Ok(runtime) => Ok(runtime.block_on(future)),
        Err(error) => Err(Failure::new(
            FlStatus::Io,
            format!("cannot start the runtime: {error}"),
        )),
    }
}
