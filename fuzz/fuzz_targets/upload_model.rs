//! Resumable uploads against a model: every input is a sequence of begin /
//! send / checkpoint / interrupt (with a torn tail) / finish operations over
//! two devices, three evidence ids and three photos; the real start plan and
//! partial-file writer must agree with the model at every step
//! (see fieldlink_server::evidence::upload_model).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| panic!("a runtime: {e}"))
    })
}

fuzz_target!(|ops: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    if let Err(disagreement) = runtime().block_on(fieldlink_server::evidence::upload_model::check(ops, dir.path())) {
        panic!("{disagreement}");
    }
});
