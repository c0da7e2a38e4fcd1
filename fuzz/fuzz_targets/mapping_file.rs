//! Any text as a mapping file next to the demo set's service.yaml and the common.yaml it uses:
//! the loader reports problems (with positions) or compiles it, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

const SERVICE: &str = include_str!("../../mappings/demo-his/gp-data/service.yaml");
const COMMON: &str = include_str!("../../mappings/demo-his/common/common.yaml");

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = dva_connector::mapping::check_texts(SERVICE, COMMON, &text);
});
