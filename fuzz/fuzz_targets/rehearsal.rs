//! Rehearsal files: `workflow YAML \0 rehearsal file`. The rehearsal file is read
//! (`RehearsalSpec::parse`); when the workflow also reads, it is rehearsed against the
//! file's mocks and compared with what the file expects.
#![no_main]

use attune_core::workflow::{self, Plan, RehearsalSpec};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((wf, spec)) = attune_fuzz::two_texts(data) else {
        return;
    };
    let Ok(spec) = RehearsalSpec::parse(spec, "r.yaml") else {
        return;
    };
    let Ok(wf) = workflow::parse(wf, "w.yaml") else {
        return;
    };
    let Ok(plan) = Plan::new(wf) else {
        return;
    };
    if let Ok(got) = spec.run(plan) {
        let _ = spec.first_difference(&got);
    }
});
