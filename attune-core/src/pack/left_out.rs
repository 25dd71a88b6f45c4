//! Partial loading ([`PackOptions::partial`](super::PackOptions::partial)): the definitions
//! of files with problems are left out of a pack, the rest loads.
//!
//! StackStorm registers a pack file by file: a broken action file is logged and the others
//! register. Attune's default stays all-or-nothing; with `partial`, it does what StackStorm
//! does, and says what it left out with every problem.

use super::{PackBundle, Problem};

/// The directories whose files each hold definitions that may be left out on their own.
const DEFINITION_DIRS: [&str; 5] = ["actions/", "triggers/", "sensors/", "rules/", "policies/"];

impl PackBundle {
    /// What was left out of the pack in partial mode, with every problem of it (empty
    /// otherwise): each problem names a file whose definitions are not loaded, or a
    /// definition left out because it needs one of them.
    pub fn left_out(&self) -> &[Problem] {
        &self.left_out
    }

    /// Leaves out the definitions of the files `problems` are in (an action also for a
    /// problem in its entry point, its workflow file), keeping the problems in
    /// [`PackBundle::left_out`]. Refused, changing nothing, when a problem is of the pack
    /// itself (pack.yaml, its config) or a budget of the pack ran out (what was not read
    /// cannot be listed), or when the problems are the engine's checks' (`checked`) and their
    /// files hold nothing left to leave out: the problems that keep the pack out are
    /// returned.
    pub(crate) fn leave_out(
        &mut self,
        problems: Vec<Problem>,
        checked: bool,
    ) -> Result<(), Vec<Problem>> {
        if problems.is_empty() {
            return Ok(());
        }
        let entry_points: Vec<&str> = self
            .actions
            .iter()
            .filter_map(|a| a.def.entry_point.as_deref())
            .collect();
        let of_the_pack = problems.iter().any(|p| {
            self.exhausted
                || !(DEFINITION_DIRS.iter().any(|d| p.file.starts_with(d))
                    || entry_points.contains(&p.file.as_str()))
        });
        if of_the_pack {
            return Err(problems);
        }
        let files: Vec<&str> = problems.iter().map(|p| p.file.as_str()).collect();
        let hit = |file: &str| files.contains(&file);
        // An action is hit by its own file or its entry point (its workflow file).
        let hit_action = |a: &super::Located<crate::model::Action>| {
            hit(&a.src.file) || a.def.entry_point.as_deref().is_some_and(hit)
        };
        let before = self.definition_count();
        let gone = self
            .actions
            .iter()
            .filter(|a| hit_action(a))
            .map(|a| a.def.action_ref.clone())
            .chain(
                self.triggers
                    .iter()
                    .filter(|t| hit(&t.src.file))
                    .map(|t| t.def.trigger_ref.clone()),
            )
            .collect::<Vec<_>>();
        self.actions.retain(|a| !hit_action(a));
        self.triggers.retain(|t| !hit(&t.src.file));
        self.sensors.retain(|s| !hit(&s.src.file));
        self.rules.retain(|r| !hit(&r.src.file));
        self.policies.retain(|p| !hit(&p.src.file));
        // A check's problem is of a definition that is there: one that removes nothing
        // would be found again, for ever. (A file that failed to read holds none.)
        if checked && self.definition_count() == before {
            return Err(problems);
        }
        self.warnings.retain(|w| !hit(&w.file));
        self.left_out_refs.extend(gone);
        self.left_out.extend(problems);
        Ok(())
    }

    /// Whether the action or trigger type `r` was left out (see [`PackBundle::leave_out`]).
    pub(crate) fn left_out_ref(&self, r: &str) -> bool {
        self.left_out_refs.iter().any(|x| x == r)
    }

    fn definition_count(&self) -> usize {
        self.actions.len()
            + self.triggers.len()
            + self.sensors.len()
            + self.rules.len()
            + self.policies.len()
    }
}
