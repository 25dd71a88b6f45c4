//! Inputs the fuzz targets (`fuzz/`) found, each kept as a regression test.

use attune_core::workflow::{self, MAX_WAVES, Plan, RehearsalSpec};

/// `rehearsal` target: a task whose success starts itself again loops for ever; the
/// rehearsal must stop it at [`MAX_WAVES`] with an error naming the limit, not run for ever.
#[test]
fn rehearsal_of_a_self_loop_ends_at_the_wave_limit() {
    let text = "version: 1.0\ntasks:\n  task1:\n    action: core.noop\n    next:\n      \
                - when: '{{ succeeded() }}'\n        do: task2, task4\n  task2:\n    \
                action: core.noop\n    next:\n      - when: '{{ succeeded() }}'\n        \
                do: task2\n  task4:\n    action: core.noop\n";
    let wf = workflow::parse(text, "loop.yaml").unwrap();
    let spec = RehearsalSpec::parse("inputs: {}\n", "loop-rehearsal.yaml").unwrap();
    let err = spec.run(Plan::new(wf).unwrap()).unwrap_err().to_string();
    assert!(err.contains(&format!("{MAX_WAVES} waves")), "{err}");
}
