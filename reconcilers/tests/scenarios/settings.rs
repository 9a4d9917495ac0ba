//! Scenarios of settings resolution: meta task over group over job, then `update`, then the
//! agent defaults; unusable values reported and skipped.

use std::time::Duration;

use insta::assert_debug_snapshot;
use shepard_reconcilers::model::{ChangeMode, TaskSpec, TemplateSpec, UpdateBlock};
use shepard_reconcilers::settings::{AgentDefaults, resolve};

use super::fixture::{spec, task_id};

#[test]
fn meta_levels_override_update_and_defaults() {
    let mut s = spec();
    s.task_meta
        .insert("shepard_max_parallel".into(), "4".into());
    s.update = Some(UpdateBlock {
        max_parallel: Some(3),
        min_healthy_time: Some(Duration::from_secs(30)),
        healthy_deadline: Some(Duration::from_secs(600)),
    });
    s.job_meta.remove("shepard_healthy_deadline");
    assert_debug_snapshot!(resolve(&task_id(), &s, &AgentDefaults::default()));
}

#[test]
fn defaults_apply_when_nothing_is_set() {
    let mut s = TaskSpec::default();
    s.templates.push(TemplateSpec {
        dest_path: "local/shepard.tpl".into(),
        change_mode: ChangeMode::Restart,
        embedded_tmpl: String::new(),
    });
    s.update = Some(UpdateBlock {
        max_parallel: Some(0),
        ..UpdateBlock::default()
    });
    assert_debug_snapshot!(resolve(&task_id(), &s, &AgentDefaults::default()));
}

#[test]
fn template_mistakes_are_reported() {
    let mut s = TaskSpec::default();
    s.templates.push(TemplateSpec {
        dest_path: "local/shepard.tpl".into(),
        change_mode: ChangeMode::Noop,
        embedded_tmpl: String::new(),
    });
    s.templates.push(TemplateSpec {
        dest_path: "local/a.yml".into(),
        change_mode: ChangeMode::Restart,
        embedded_tmpl: String::new(),
    });
    s.templates.push(TemplateSpec {
        dest_path: "local/b.yml".into(),
        change_mode: ChangeMode::Signal,
        embedded_tmpl: String::new(),
    });
    s.task_meta
        .insert("shepard_restart_method".into(), "carrier-pigeon".into());
    assert_debug_snapshot!(resolve(&task_id(), &s, &AgentDefaults::default()));
}

#[test]
fn consul_key_method_without_trigger_template_falls_back_to_the_api() {
    let mut s = TaskSpec::default();
    s.group_meta.insert("shepard_enabled".into(), "true".into());
    s.job_meta
        .insert("shepard_restart_method".into(), "consul-key".into());
    assert_debug_snapshot!(resolve(&task_id(), &s, &AgentDefaults::default()));
}
