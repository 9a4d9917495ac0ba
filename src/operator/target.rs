//! The rollout an operator names: a task path `NAMESPACE/JOB/GROUP/TASK` (segments may be
//! percent-escaped, as in the keys; a job ID holding `/` may also be written raw, since the
//! namespace is the first segment and group and task the last two) or a rollout ID.

use percent_encoding::percent_decode_str;
use shepard_reconcilers::model::TaskId;

use super::OperatorError;
use super::view::ClusterView;

/// What the command line named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A task, by its path.
    Task(TaskId),
    /// A rollout, by the `id` of its record.
    RolloutId(String),
}

impl Target {
    /// Parses the argument: anything with a `/` is a task path.
    pub fn parse(text: &str) -> Result<Self, OperatorError> {
        if !text.contains('/') {
            if text.is_empty() {
                return Err(bad(text, "empty"));
            }
            return Ok(Target::RolloutId(text.to_owned()));
        }
        let segments: Vec<String> = text
            .split('/')
            .map(|s| {
                percent_decode_str(s)
                    .decode_utf8()
                    .map(|d| d.into_owned())
                    .map_err(|_| bad(text, "a segment is not valid UTF-8 once unescaped"))
            })
            .collect::<Result<_, _>>()?;
        match segments.as_slice() {
            [namespace, job @ .., group, task] if !job.is_empty() => {
                let job = job.join("/");
                if [namespace, &job, group, task].iter().any(|s| s.is_empty()) {
                    return Err(bad(text, "empty segment"));
                }
                Ok(Target::Task(TaskId::new(namespace, &job, group, task)))
            }
            _ => Err(bad(
                text,
                "expected NAMESPACE/JOB/GROUP/TASK or a rollout ID",
            )),
        }
    }

    /// The task of the target, looking a rollout ID up in `view`.
    pub fn task(&self, view: &ClusterView) -> Result<TaskId, OperatorError> {
        match self {
            Target::Task(task) => Ok(task.clone()),
            Target::RolloutId(id) => view
                .by_rollout_id(id)
                .map(|t| t.task.clone())
                .ok_or_else(|| OperatorError::NoSuchRolloutId(id.clone())),
        }
    }
}

fn bad(text: &str, why: &str) -> OperatorError {
    OperatorError::BadTarget {
        target: text.to_owned(),
        reason: why.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_paths_rollout_ids_and_escapes() {
        assert_eq!(
            Target::parse("default/web/web/app").unwrap(),
            Target::Task(TaskId::new("default", "web", "web", "app"))
        );
        assert_eq!(
            Target::parse("default/batch%2Fdispatch-1/g/t").unwrap(),
            Target::Task(TaskId::new("default", "batch/dispatch-1", "g", "t"))
        );
        assert_eq!(
            Target::parse("default/batch/dispatch-1/g/t").unwrap(),
            Target::Task(TaskId::new("default", "batch/dispatch-1", "g", "t"))
        );
        assert_eq!(
            Target::parse("r-123").unwrap(),
            Target::RolloutId("r-123".into())
        );
        assert!(Target::parse("default/web/app").is_err());
        assert!(Target::parse("default//web/app").is_err());
        assert!(Target::parse("").is_err());
    }
}
