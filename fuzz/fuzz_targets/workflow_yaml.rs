//! Workflow files: the input is read both as an Orquesta-class workflow
//! (`workflow::parse`) and as an action chain (`workflow::parse_chain`). What reads
//! cleanly must re-check clean (`validate`), compile to a plan, and draw.
#![no_main]

use attune_core::workflow::{self, Plan};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(text) = attune_fuzz::text(data) else {
        return;
    };
    match workflow::parse(text, "w.yaml") {
        Ok(wf) => {
            assert_eq!(
                wf.validate(),
                Ok(()),
                "a parsed workflow re-checks with problems"
            );
            let _ = workflow::to_dot(&wf, "w", None);
            let _ = workflow::to_mermaid(&wf, None);
            let _ = wf.actions();
            let _ = Plan::new(wf);
        }
        Err(e) => assert!(!e.problems.is_empty(), "an error without a problem"),
    }
    match workflow::parse_chain(text, "c.yaml") {
        Ok(chain) => {
            assert_eq!(
                chain.validate(),
                Ok(()),
                "a parsed chain re-checks with problems"
            );
            let _ = Plan::for_chain(&chain);
        }
        Err(e) => assert!(!e.problems.is_empty(), "an error without a problem"),
    }
});
